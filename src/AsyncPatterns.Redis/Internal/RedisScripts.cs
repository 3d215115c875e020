using System.Security.Cryptography;
using System.Text;

namespace AsyncPatterns.Redis.Internal;

/// <summary>
/// The Lua scripts behind <see cref="RedisRateLimiter"/>. Each runs atomically on the server, so one call decides one
/// attempt for every process at once. Times are microseconds since the Unix epoch, taken from the server's <c>TIME</c>
/// (or passed in, for tests). Keys: 1 the rate state (the GCRA's theoretical arrival time, TAT), 2 the held leases
/// (a sorted set of <c>count:id</c> scored by expiry), 3 the permits held beyond one per lease (the sum of count − 1
/// over the held leases; absent when zero, so leases of one permit never touch it), 4 a mark that an acquire was
/// denied for concurrency within the last two lease times (someone may be waiting for a release). The permits held
/// are so the number of leases plus key 3: one <c>ZCARD</c> and one <c>GET</c>, with no count to keep for the common
/// lease of one permit. Keys 2 and 3 expire together, a second after the latest lease expiry any call has set, and a
/// lease past its expiry (its holder stopped renewing it) is reclaimed when an acquire would otherwise be denied for
/// concurrency: until then it counts as held, never the other way round.
/// </summary>
internal static class RedisScripts
{
    /// <summary>Status of an acquire reply.</summary>
    public const long Granted = 1;

    /// <summary>The rate is short: the reply carries how long until the permits are due.</summary>
    public const long RateShort = 0;

    /// <summary>The concurrency is short: the reply carries the earliest expiry among the held leases.</summary>
    public const long ConcurrencyShort = 2;

    /// <summary>The call reached the server after its deadline (it waited in a client backlog): nothing was done.</summary>
    public const long Stale = 3;

    /// <summary><see cref="Acquire"/> with its digest.</summary>
    public static readonly RedisScript AcquireScript = new(Acquire, 1);

    /// <summary><see cref="Release"/> with its digest.</summary>
    public static readonly RedisScript ReleaseScript = new(Release, 2);

    /// <summary><see cref="Renew"/> with its digest.</summary>
    public static readonly RedisScript RenewScript = new(Renew, 4);

    /// <summary>
    /// Gives back the leases of ARGV[first], ARGV[first + 1], … (pairs of lease member <c>count:id</c> and count) and
    /// sets <c>released</c> to how many of them were held (the others had been reclaimed). Removing a member that is
    /// gone does nothing, so a release sent twice (a call retried after a timeout) frees its permits once. The release
    /// is published on <c>channel</c> only while KEYS[4] marks a recent denial: with no one denied, no one waits, and a
    /// release costs no message to every subscribed process. A denied waiter asks again no later than the earliest
    /// lease expiry (within one lease time), which renews the mark (it lasts two lease times), so no waiter misses a
    /// release it waits for.
    /// </summary>
    private const string ReleaseLeases = """
        local released = 0
        if #ARGV >= first then
          local extra = 0
          for i = first, #ARGV, 2 do
            if redis.call('ZREM', KEYS[2], ARGV[i]) == 1 then
              released = released + 1
              extra = extra + tonumber(ARGV[i + 1]) - 1
            end
          end
          if extra > 0 and redis.call('DECRBY', KEYS[3], extra) <= 0 then
            redis.call('DEL', KEYS[3])
          end
          if released > 0 and redis.call('EXISTS', KEYS[4]) == 1 then
            redis.call('PUBLISH', channel, '1')
          end
        end

        """;

    /// <summary>
    /// ARGV: 1 permits, 2 emission interval (µs per permit; 0: no rate limit), 3 burst, 4 max concurrency (0: none),
    /// 5 lease member (<c>count:id</c>), 6 lease time µs, 7 now µs (negative: the server's TIME), 8 deadline µs (0: none),
    /// 9 permits granted elsewhere to charge first (after a failover to a local limiter), 10 the release channel, then
    /// the leases this process released since its last call, as pairs (see <see cref="ReleaseLeases"/>): they are
    /// given back first, so a release rides on the next acquire instead of costing a call of its own.
    /// Returns {status, now, retry µs, permits held, whole tokens available (-1: no rate limit), earliest lease expiry µs,
    /// leases released (left out when none, so a reply without releases costs no seventh value)}.
    /// The TAT key expires a minute after the TAT has passed (a TAT in the past means a full bucket, so the key only
    /// costs memory until then; the minute keeps it right when the time is passed in and runs slower than the server's).
    /// GCRA: a request for n permits is allowed when max(TAT, now) + n × interval − now ≤ burst × interval (+1 µs of
    /// rounding tolerance); that is exactly a token bucket of capacity burst refilled at 1 / interval.
    /// </summary>
    public const string Acquire = """
        local first = 11
        local channel = ARGV[10]

        """ + ReleaseLeases + """
        local n = tonumber(ARGV[1])
        local interval = tonumber(ARGV[2])
        local burst = tonumber(ARGV[3])
        local maxc = tonumber(ARGV[4])
        local now = tonumber(ARGV[7])
        if now < 0 then
          local t = redis.call('TIME')
          now = tonumber(t[1]) * 1000000 + tonumber(t[2])
        end
        local deadline = tonumber(ARGV[8])
        if deadline > 0 and now > deadline then
          if released > 0 then return {3, now, 0, 0, 0, 0, released} end
          return {3, now, 0, 0, 0, 0}
        end
        local need = n
        if need < 1 then need = 1 end
        local tau = burst * interval
        local tat = now
        local charged = false
        local retry = 0
        if interval > 0 then
          local stored = tonumber(redis.call('GET', KEYS[1]) or '0')
          if stored > now then tat = stored end
          local charge = tonumber(ARGV[9])
          if charge > 0 then
            tat = math.min(tat + charge * interval, now + tau)
            charged = true
          end
          local excess = tat + need * interval - now - tau
          if excess > 1 then retry = math.ceil(excess) end
        end
        local held = 0
        local extra = 0
        local earliest = 0
        local concok = true
        if maxc > 0 then
          local leases = redis.call('ZCARD', KEYS[2])
          extra = tonumber(redis.call('GET', KEYS[3]) or '0')
          held = leases + extra
          if held + need > maxc then
            local expired = redis.call('ZRANGEBYSCORE', KEYS[2], '-inf', now)
            if #expired > 0 then
              redis.call('ZREMRANGEBYSCORE', KEYS[2], '-inf', now)
              local freed = 0
              for _, m in ipairs(expired) do
                freed = freed + tonumber(string.match(m, '^(%d+):')) - 1
              end
              if freed > 0 then
                extra = extra - freed
                if extra <= 0 then
                  extra = 0
                  redis.call('DEL', KEYS[3])
                else
                  redis.call('DECRBY', KEYS[3], freed)
                end
              end
              held = leases - #expired + extra
            end
          end
          if held + need > maxc then
            concok = false
            redis.call('SET', KEYS[4], '1', 'PX', math.ceil(tonumber(ARGV[6]) / 500) + 1000)
            local first = redis.call('ZRANGE', KEYS[2], 0, 0, 'WITHSCORES')
            if #first > 0 then earliest = math.ceil(tonumber(first[2])) end
          end
        end
        local status = 1
        if retry > 0 then
          status = 0
        elseif not concok then
          status = 2
        elseif n > 0 then
          if interval > 0 then
            tat = tat + n * interval
            charged = true
          end
          if maxc > 0 then
            local ttl = math.ceil(tonumber(ARGV[6]) / 1000) + 1000
            redis.call('ZADD', KEYS[2], now + tonumber(ARGV[6]), ARGV[5])
            redis.call('PEXPIRE', KEYS[2], ttl)
            if n > 1 then
              redis.call('INCRBY', KEYS[3], n - 1)
              extra = extra + n - 1
            end
            if extra > 0 then redis.call('PEXPIRE', KEYS[3], ttl) end
            held = held + n
          end
        end
        if charged and tat > now then
          redis.call('SET', KEYS[1], string.format('%.3f', tat), 'PX', math.ceil((tat - now) / 1000) + 60000)
        end
        local tokens = -1
        if interval > 0 then
          tokens = math.floor((tau - (tat - now)) / interval + 1e-9)
        end
        if released > 0 then return {status, now, retry, held, tokens, earliest, released} end
        return {status, now, retry, held, tokens, earliest}
        """;

    /// <summary>
    /// ARGV: 1 release channel, then pairs of lease member (<c>count:id</c>) and count: the leases one call gives back
    /// (the releases that came while the previous call was in flight, with no acquire to ride on). Returns how many of
    /// them were held (see <see cref="ReleaseLeases"/>).
    /// </summary>
    public const string Release = """
        local first = 2
        local channel = ARGV[1]

        """ + ReleaseLeases + """
        return released
        """;

    /// <summary>
    /// ARGV: 1 lease time µs, 2 now µs (negative: TIME), 3… lease members. Moves the expiry of each held lease to now +
    /// lease time; returns the members that were no longer held (reclaimed while their holder was cut off).
    /// </summary>
    public const string Renew = """
        local now = tonumber(ARGV[2])
        if now < 0 then
          local t = redis.call('TIME')
          now = tonumber(t[1]) * 1000000 + tonumber(t[2])
        end
        local expiry = now + tonumber(ARGV[1])
        local lost = {}
        for i = 3, #ARGV do
          if redis.call('ZSCORE', KEYS[2], ARGV[i]) then
            redis.call('ZADD', KEYS[2], 'XX', expiry, ARGV[i])
          else
            lost[#lost + 1] = ARGV[i]
          end
        end
        local ttl = math.ceil(tonumber(ARGV[1]) / 1000) + 1000
        redis.call('PEXPIRE', KEYS[2], ttl)
        redis.call('PEXPIRE', KEYS[3], ttl)
        return lost
        """;
}

/// <summary>
/// A script and the SHA-1 digest Redis knows it by (<c>EVALSHA</c>). Sending the digest spares the multiplexer a
/// look-up of the whole script text on every call (it hashes the text to find the digest it loaded), which is a
/// measurable part of a grant's client CPU for a script of a few kilobytes.
/// </summary>
/// <param name="text">The Lua source.</param>
/// <param name="bit">This script's bit in a limiter's set of scripts known to be loaded.</param>
internal sealed class RedisScript(string text, int bit)
{
    /// <summary>Gets the Lua source.</summary>
    public string Text { get; } = text;

    /// <summary>Gets the SHA-1 digest of the source, as <c>EVALSHA</c> takes it (SHA-1 is Redis's script identity, not a security measure).</summary>
#pragma warning disable CA5350 // Redis names scripts by their SHA-1 digest; nothing here depends on its strength.
    public byte[] Hash { get; } = SHA1.HashData(Encoding.UTF8.GetBytes(text));
#pragma warning restore CA5350

    /// <summary>Gets this script's bit in a limiter's set of scripts known to be loaded.</summary>
    public int Bit { get; } = bit;

    /// <summary>True when Redis answered that it does not know the digest (its script cache was flushed: a restart, a failover, <c>SCRIPT FLUSH</c>); the script did not run.</summary>
    public static bool IsUnknown(Exception exception) =>
        exception is StackExchange.Redis.RedisServerException && exception.Message.StartsWith("NOSCRIPT", StringComparison.Ordinal);
}
