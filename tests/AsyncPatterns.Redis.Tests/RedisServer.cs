using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using StackExchange.Redis;

[assembly: AssemblyFixture(typeof(AsyncPatterns.Redis.Tests.SharedRedis))]

namespace AsyncPatterns.Redis.Tests;

/// <summary>A redis-server process of a test's own, on 127.0.0.1: it can be stopped, frozen and started again on the same port.</summary>
public sealed class RedisServer : IAsyncDisposable
{
    private Process? _process;

    private RedisServer(int port) => Port = port;

    public int Port { get; }

    public string ConnectionString => $"127.0.0.1:{Port}";

    public static async Task<RedisServer> StartAsync()
    {
        var server = new RedisServer(FreePort());
        await server.StartAgainAsync();
        return server;
    }

    /// <summary>Starts the server (again) on its port and waits until it answers.</summary>
    public async Task StartAgainAsync()
    {
        _process = Process.Start(new ProcessStartInfo("redis-server")
        {
            ArgumentList = { "--bind", "127.0.0.1", "--port", Port.ToString(System.Globalization.CultureInfo.InvariantCulture), "--save", "", "--appendonly", "no" },
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        })!;
        _process.OutputDataReceived += static (_, _) => { };
        _process.ErrorDataReceived += static (_, _) => { };
        _process.BeginOutputReadLine();
        _process.BeginErrorReadLine();
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(20));
        while (true)
        {
            try
            {
                using var client = new TcpClient();
                await client.ConnectAsync(IPAddress.Loopback, Port, timeout.Token);
                return;
            }
            catch (SocketException)
            {
                await Task.Delay(50, timeout.Token);
            }
        }
    }

    /// <summary>Kills the server: its state is lost (no persistence), its connections drop.</summary>
    public async Task StopAsync()
    {
        if (_process is { } process)
        {
            _process = null;
            process.Kill();
            await process.WaitForExitAsync();
            process.Dispose();
        }
    }

    /// <summary>Freezes (SIGSTOP) or thaws (SIGCONT) the server: its connections stay open but nothing is answered.</summary>
    public async Task SignalAsync(string signal)
    {
        using var kill = Process.Start("kill", [$"-{signal}", _process!.Id.ToString(System.Globalization.CultureInfo.InvariantCulture)]);
        await kill.WaitForExitAsync();
    }

    public async ValueTask DisposeAsync()
    {
        if (_process is not null)
        {
            await SignalAsync("CONT");
        }

        await StopAsync();
    }

    private static int FreePort()
    {
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        return ((IPEndPoint)listener.LocalEndpoint).Port;
    }
}

/// <summary>The Redis every test shares: ASYNCPATTERNS_REDIS (set by .ci/redis.sh), or a server started for the run.</summary>
public sealed class SharedRedis : IAsyncLifetime
{
    private RedisServer? _own;

    public string ConnectionString { get; private set; } = string.Empty;

    public static async Task<ConnectionMultiplexer> ConnectAsync(string connectionString, TextWriter? log = null)
    {
        var options = ConfigurationOptions.Parse(connectionString);
        options.AbortOnConnectFail = false;
        options.ConnectTimeout = 2000;
        // Generous: the machine running the tests may be busy, and a slow reply must not read as a Redis fault.
        options.AsyncTimeout = 15000;
        options.SyncTimeout = 15000;
        options.ConnectRetry = 1;
        options.ReconnectRetryPolicy = new LinearRetry(250);
        return await ConnectionMultiplexer.ConnectAsync(options, log);
    }

    public Task<ConnectionMultiplexer> ConnectAsync() => ConnectAsync(ConnectionString);

    public async ValueTask InitializeAsync()
    {
        if (Environment.GetEnvironmentVariable("ASYNCPATTERNS_REDIS") is { Length: > 0 } configured)
        {
            ConnectionString = configured;
            return;
        }

        _own = await RedisServer.StartAsync();
        ConnectionString = _own.ConnectionString;
    }

    public async ValueTask DisposeAsync()
    {
        if (_own is not null)
        {
            await _own.DisposeAsync();
        }
    }
}
