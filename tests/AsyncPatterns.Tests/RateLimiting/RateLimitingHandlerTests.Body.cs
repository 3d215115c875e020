using System.Net;
using System.Threading.RateLimiting;
using AsyncPatterns.RateLimiting;

namespace AsyncPatterns.Tests.RateLimiting;

/// <summary>The permit of a request is held until its body has been read to the end or its response disposed.</summary>
public sealed partial class RateLimitingHandlerTests
{
    [Fact]
    public async Task GetStringAsync_MaxConcurrencyOneWhileTheBodyDownloads_SecondRequestWaitsForTheBody()
    {
        using var limiter = new ConcurrencyLimiter(new ConcurrencyLimiterOptions { PermitLimit = 1, QueueLimit = 10 });
        var inner = new GatedBodyHandler();
        using var client = new HttpClient(new RateLimitingHandler(limiter, inner));

        var first = client.GetStringAsync(s_uri, Ct);
        await inner.BodyStarted(0).WaitAsync(FakeClock.HangTimeout, Ct);
        var second = client.GetStringAsync(s_uri, Ct);
        await FakeClock.SettleAsync();

        inner.Requests.Should().Be(1, "the first request's body is still downloading (ResponseContentRead buffers it after the handler returned)");
        inner.Release(0);
        (await first.WaitAsync(FakeClock.HangTimeout, Ct)).Should().Be("body-0");
        await inner.BodyStarted(1).WaitAsync(FakeClock.HangTimeout, Ct);
        inner.Release(1);
        (await second.WaitAsync(FakeClock.HangTimeout, Ct)).Should().Be("body-1");
        limiter.GetStatistics()!.CurrentAvailablePermits.Should().Be(1);
    }

    [Fact]
    public async Task SendAsync_ResponseHeadersRead_HoldsThePermitUntilTheBodyIsReadToTheEnd()
    {
        using var limiter = new ConcurrencyLimiter(new ConcurrencyLimiterOptions { PermitLimit = 1, QueueLimit = 10 });
        var inner = new GatedBodyHandler();
        using var client = new HttpClient(new RateLimitingHandler(limiter, inner));

        using var response = await client.GetAsync(s_uri, HttpCompletionOption.ResponseHeadersRead, Ct);
        limiter.GetStatistics()!.CurrentAvailablePermits.Should().Be(0, "the body has not been read");
        var second = client.GetAsync(s_uri, HttpCompletionOption.ResponseHeadersRead, Ct);
        await FakeClock.SettleAsync();
        inner.Requests.Should().Be(1);

        var stream = await response.Content.ReadAsStreamAsync(Ct);
        inner.Release(0);
        using var reader = new StreamReader(stream);
        (await reader.ReadToEndAsync(Ct)).Should().Be("body-0");

        using var secondResponse = await second.WaitAsync(FakeClock.HangTimeout, Ct);
        inner.Requests.Should().Be(2, "reading the body to its end gave the permit back");
        secondResponse.Dispose();
        limiter.GetStatistics()!.CurrentAvailablePermits.Should().Be(1, "disposing an unread response gives its permit back");
    }

    [Fact]
    public async Task SendAsync_ResponseDisposedUnread_GivesThePermitBackOnce()
    {
        using var limiter = new ConcurrencyLimiter(new ConcurrencyLimiterOptions { PermitLimit = 2, QueueLimit = 10 });
        var inner = new GatedBodyHandler();
        using var client = new HttpClient(new RateLimitingHandler(limiter, inner));

        var response = await client.GetAsync(s_uri, HttpCompletionOption.ResponseHeadersRead, Ct);
        limiter.GetStatistics()!.CurrentAvailablePermits.Should().Be(1);
        response.Dispose();
        response.Dispose();

        limiter.GetStatistics()!.CurrentAvailablePermits.Should().Be(2);
    }

    [Fact]
    public async Task SendAsync_BodyReadFails_GivesThePermitBack()
    {
        using var limiter = new ConcurrencyLimiter(new ConcurrencyLimiterOptions { PermitLimit = 1, QueueLimit = 10 });
        var inner = new GatedBodyHandler { FailBody = true };
        using var client = new HttpClient(new RateLimitingHandler(limiter, inner));

        var get = client.GetStringAsync(s_uri, Ct);
        await inner.BodyStarted(0).WaitAsync(FakeClock.HangTimeout, Ct);
        inner.Release(0);

        await get.Awaiting(g => g.WaitAsync(FakeClock.HangTimeout, Ct)).Should().ThrowAsync<HttpRequestException>();
        limiter.GetStatistics()!.CurrentAvailablePermits.Should().Be(1);
    }

    [Fact]
    public void Send_Synchronous_HoldsThePermitUntilTheResponseIsDisposed()
    {
        using var limiter = new ConcurrencyLimiter(new ConcurrencyLimiterOptions { PermitLimit = 1, QueueLimit = 0 });
        using var invoker = new HttpMessageInvoker(new RateLimitingHandler(limiter, new GatedBodyHandler()));

        var response = invoker.Send(new HttpRequestMessage(HttpMethod.Get, s_uri), Ct);
        invoker.Invoking(i => i.Send(new HttpRequestMessage(HttpMethod.Get, s_uri), Ct)).Should().Throw<RateLimitRejectedException>();
        response.Dispose();

        using var again = invoker.Send(new HttpRequestMessage(HttpMethod.Get, s_uri), Ct);
        again.StatusCode.Should().Be(HttpStatusCode.OK);
    }

    [Fact]
    public void Constructor_NullInnerHandler_ThrowsArgumentNullExceptionNamingInnerHandler()
    {
        using var limiter = new ConcurrencyLimiter(new ConcurrencyLimiterOptions { PermitLimit = 1, QueueLimit = 0 });

        var create = () => new RateLimitingHandler(limiter, null!);

        create.Should().Throw<ArgumentNullException>().WithParameterName("innerHandler");
    }

    [Fact]
    public async Task SendAsync_RejectedRequestWithUserInfo_MessageHidesTheCredentials()
    {
        using var limiter = new ConcurrencyLimiter(new ConcurrencyLimiterOptions { PermitLimit = 1, QueueLimit = 0 });
        using var held = limiter.AttemptAcquire(1);
        using var invoker = new HttpMessageInvoker(new RateLimitingHandler(limiter, new GatedBodyHandler()));

        var send = () => invoker.SendAsync(new HttpRequestMessage(HttpMethod.Get, "http://user:hunter2@api.test/x"), Ct);

        (await send.Should().ThrowAsync<RateLimitRejectedException>()).Which.Message
            .Should().NotContain("hunter2").And.Contain("http://***@api.test/x");
    }

    /// <summary>Answers at once with headers; the body of request N is written only when <see cref="Release"/>(N) is called.</summary>
    private sealed class GatedBodyHandler : HttpMessageHandler
    {
        private readonly Lock _lock = new();
        private readonly List<(TaskCompletionSource Started, TaskCompletionSource Gate)> _bodies = [];
        private int _requests;

        public bool FailBody { get; init; }

        public int Requests => Volatile.Read(ref _requests);

        public Task BodyStarted(int index) => Body(index).Started.Task;

        public void Release(int index) => Body(index).Gate.TrySetResult();

        protected override Task<HttpResponseMessage> SendAsync(HttpRequestMessage request, CancellationToken cancellationToken) =>
            Task.FromResult(Send(request, cancellationToken));

        protected override HttpResponseMessage Send(HttpRequestMessage request, CancellationToken cancellationToken)
        {
            var index = Interlocked.Increment(ref _requests) - 1;
            return new HttpResponseMessage(HttpStatusCode.OK) { RequestMessage = request, Content = new GatedContent(this, index) };
        }

        private (TaskCompletionSource Started, TaskCompletionSource Gate) Body(int index)
        {
            lock (_lock)
            {
                while (_bodies.Count <= index)
                {
                    _bodies.Add((new(TaskCreationOptions.RunContinuationsAsynchronously), new(TaskCreationOptions.RunContinuationsAsynchronously)));
                }

                return _bodies[index];
            }
        }

        private sealed class GatedContent(GatedBodyHandler handler, int index) : HttpContent
        {
            protected override async Task SerializeToStreamAsync(Stream stream, TransportContext? context) =>
                await stream.WriteAsync(await BodyAsync(CancellationToken.None));

            protected override async Task<Stream> CreateContentReadStreamAsync() =>
                new GatedStream(this);

            protected override bool TryComputeLength(out long length)
            {
                length = 0;
                return false;
            }

            public async Task<byte[]> BodyAsync(CancellationToken cancellationToken)
            {
                var (started, gate) = handler.Body(index);
                started.TrySetResult();
                await gate.Task.WaitAsync(cancellationToken);
                if (handler.FailBody)
                {
                    throw new IOException("The connection was reset mid-body.");
                }

                return System.Text.Encoding.UTF8.GetBytes("body-" + index);
            }
        }

        private sealed class GatedStream(GatedContent content) : Stream
        {
            private MemoryStream? _body;

            public override bool CanRead => true;

            public override bool CanSeek => false;

            public override bool CanWrite => false;

            public override long Length => throw new NotSupportedException();

            public override long Position { get => 0; set => throw new NotSupportedException(); }

            public override void Flush()
            {
            }

            public override int Read(byte[] buffer, int offset, int count) => throw new NotSupportedException();

            public override async ValueTask<int> ReadAsync(Memory<byte> buffer, CancellationToken cancellationToken = default)
            {
                _body ??= new MemoryStream(await content.BodyAsync(cancellationToken));
                return _body.Read(buffer.Span);
            }

            public override Task<int> ReadAsync(byte[] buffer, int offset, int count, CancellationToken cancellationToken) =>
                ReadAsync(buffer.AsMemory(offset, count), cancellationToken).AsTask();

            public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();

            public override void SetLength(long value) => throw new NotSupportedException();

            public override void Write(byte[] buffer, int offset, int count) => throw new NotSupportedException();
        }
    }
}
