using System.Net;
using System.Net.Sockets;
using System.Text;
using AsyncPatterns.Http;

namespace AsyncPatterns.IntegrationTests.Http;

/// <summary>Redirects through a real SocketsHttpHandler, from a raw HTTP/1.1 server on 127.0.0.1 that answers every request with a 302.</summary>
public sealed class ConcurrentHttpFetcherRedirectTests
{
    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    [Fact]
    public async Task FetchAllRawAsync_RedirectsToNonHttpOrUnparsableLocations_AreThoseUrlsErrorsAndTheOthersSucceed()
    {
        await using var server = RedirectServer.Start(new Dictionary<string, string>
        {
            ["/file"] = "file:///etc/passwd",
            ["/slashes"] = "//",
            ["/data"] = "data:text/plain,hi",
            ["/ftp"] = "ftp://127.0.0.1/x",
        });
        using var client = new HttpClient();
        string[] paths = ["/ok/1", "/file", "/slashes", "/data", "/ftp", "/ok/2"];

        var results = await new ConcurrentHttpFetcher(client, new FetchOptions { MaxConcurrency = 2 })
            .FetchAllRawAsync(paths.Select(p => server.Url(p)), Ct);

        results.Should().HaveCount(paths.Length);
        results[0].IsSuccess.Should().BeTrue();
        results[5].IsSuccess.Should().BeTrue();
        foreach (var result in results.Skip(1).Take(4))
        {
            result.IsSuccess.Should().BeFalse("a redirect to {0} leads to no http(s) resource", paths[result.Index]);
            result.Error!.Kind.Should().BeOneOf([FetchErrorKind.HttpStatus, FetchErrorKind.Unexpected, FetchErrorKind.Network], "{0}: {1}", paths[result.Index], result.Error);
            if (result.Error.Kind == FetchErrorKind.HttpStatus)
            {
                result.StatusCode.Should().Be(HttpStatusCode.Found, "a redirect the client does not follow is reported with its own status");
            }
        }
    }

    [Fact]
    public async Task FetchAllRawAsync_RedirectNotFollowedByTheClient_IsAnHttpStatusErrorWithThe3xxCode()
    {
        await using var server = RedirectServer.Start(new Dictionary<string, string> { ["/moved"] = "/ok/1" });
        using var client = new HttpClient(new HttpClientHandler { AllowAutoRedirect = false });

        var results = await new ConcurrentHttpFetcher(client).FetchAllRawAsync([server.Url("/moved"), server.Url("/ok/2")], Ct);

        results[0].Error!.Kind.Should().Be(FetchErrorKind.HttpStatus);
        results[0].StatusCode.Should().Be(HttpStatusCode.Found);
        results[1].IsSuccess.Should().BeTrue();
    }

    [Fact]
    public async Task FetchAllRawAsync_RedirectFollowedByTheClient_IsTheTargetsResult()
    {
        await using var server = RedirectServer.Start(new Dictionary<string, string> { ["/moved"] = "/ok/target" });
        using var client = new HttpClient();

        var results = await new ConcurrentHttpFetcher(client).FetchAllRawAsync([server.Url("/moved")], Ct);

        results[0].IsSuccess.Should().BeTrue();
        results[0].Value!.GetBodyAsString().Should().Be("/ok/target");
        results[0].Uri.Should().Be(server.Url("/moved"), "the result names the URI that was asked for");
    }

    /// <summary>Answers each request with a 302 to the location mapped to its path, or a 200 whose body is the path; one request per connection.</summary>
    private sealed class RedirectServer : IAsyncDisposable
    {
        private readonly TcpListener _listener;
        private readonly IReadOnlyDictionary<string, string> _redirects;
        private readonly CancellationTokenSource _stop = new();
        private readonly Task _loop;

        private RedirectServer(IReadOnlyDictionary<string, string> redirects)
        {
            _redirects = redirects;
            _listener = new TcpListener(IPAddress.Loopback, 0);
            _listener.Start();
            _loop = AcceptLoopAsync();
        }

        public static RedirectServer Start(IReadOnlyDictionary<string, string> redirects) => new(redirects);

        public Uri Url(string path) => new($"http://127.0.0.1:{((IPEndPoint)_listener.LocalEndpoint).Port}{path}");

        public async ValueTask DisposeAsync()
        {
            await _stop.CancelAsync();
            _listener.Stop();
            await _loop.ConfigureAwait(false);
            _stop.Dispose();
        }

        private async Task AcceptLoopAsync()
        {
            var connections = new List<Task>();
            try
            {
                while (true)
                {
                    var socket = await _listener.AcceptTcpClientAsync(_stop.Token);
                    connections.Add(ServeAsync(socket));
                }
            }
            catch (Exception) when (_stop.IsCancellationRequested)
            {
                // Stopped.
            }

            await Task.WhenAll(connections);
        }

        private async Task ServeAsync(TcpClient socket)
        {
            using (socket)
            {
                try
                {
                    var stream = socket.GetStream();
                    using var reader = new StreamReader(stream, Encoding.ASCII, leaveOpen: true);
                    var requestLine = await reader.ReadLineAsync(_stop.Token) ?? string.Empty;
                    while (!string.IsNullOrEmpty(await reader.ReadLineAsync(_stop.Token)))
                    {
                    }

                    var path = requestLine.Split(' ') is { Length: >= 2 } parts ? parts[1] : "/";
                    var response = _redirects.TryGetValue(path, out var location)
                        ? $"HTTP/1.1 302 Found\r\nLocation: {location}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
                        : $"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: {path.Length}\r\nConnection: close\r\n\r\n{path}";
                    await stream.WriteAsync(Encoding.ASCII.GetBytes(response), _stop.Token);
                }
                catch (Exception) when (_stop.IsCancellationRequested)
                {
                    // Stopped mid-request.
                }
                catch (IOException)
                {
                    // The client went away.
                }
            }
        }
    }
}
