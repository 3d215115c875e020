using System.Diagnostics;
using System.Reflection;
using System.Text;
using System.Text.RegularExpressions;

namespace AsyncPatterns.IntegrationTests.Samples;

/// <summary>
/// One sample (samples/&lt;Name&gt;) run as a child process from its built dll (<c>dotnet &lt;Name&gt;.dll</c>), with its
/// standard output and error captured. A run that outlives its time limit is killed with its whole process tree and fails
/// the test with everything it printed.
/// </summary>
internal sealed class SampleProcess : IAsyncDisposable
{
    /// <summary>A limit that a sample's few seconds meet many times over, even on a loaded machine.</summary>
    public static readonly TimeSpan DefaultTimeout = TimeSpan.FromMinutes(3);

    private readonly Process _process;
    private readonly string _name;
    private readonly object _gate = new();
    private readonly List<string> _lines = [];
    private readonly StringBuilder _transcript = new();

    private SampleProcess(string name, Process process)
    {
        _name = name;
        _process = process;
    }

    /// <summary>The path of a sample's dll, as the build of this test project (which builds every sample first) left it.</summary>
    public static string DllPath(string name)
    {
        var metadata = typeof(SampleProcess).Assembly.GetCustomAttributes<AssemblyMetadataAttribute>().ToArray();
        var bin = metadata.Single(attribute => attribute.Key == "SamplesBinPath").Value!;
        var configuration = metadata.Single(attribute => attribute.Key == "SamplesConfiguration").Value!;
        var path = Path.Combine(bin, name, configuration.ToLowerInvariant(), name + ".dll");
        File.Exists(path).Should().BeTrue($"the build of the test project builds the sample {name} to {path}");
        return path;
    }

    /// <summary>Starts the sample with <paramref name="args"/>; <paramref name="environment"/> adds or overrides variables.</summary>
    public static SampleProcess Start(string name, IEnumerable<string>? args = null, IReadOnlyDictionary<string, string?>? environment = null)
    {
        var start = new ProcessStartInfo(Environment.GetEnvironmentVariable("DOTNET_HOST_PATH") is { Length: > 0 } host ? host : "dotnet")
        {
            RedirectStandardInput = true,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
            StandardOutputEncoding = Encoding.UTF8,
            StandardErrorEncoding = Encoding.UTF8,
        };
        start.ArgumentList.Add(DllPath(name));
        foreach (var arg in args ?? [])
        {
            start.ArgumentList.Add(arg);
        }

        start.Environment["DOTNET_CLI_TELEMETRY_OPTOUT"] = "1";
        start.Environment["DOTNET_NOLOGO"] = "1";
        start.Environment["DOTNET_SYSTEM_GLOBALIZATION_INVARIANT"] = "1"; // numbers print as the assertions parse them
        foreach (var (key, value) in environment ?? new Dictionary<string, string?>())
        {
            start.Environment[key] = value;
        }

        var process = new Process { StartInfo = start };
        var sample = new SampleProcess(name, process);
        process.OutputDataReceived += (_, e) => sample.Record(e.Data, isError: false);
        process.ErrorDataReceived += (_, e) => sample.Record(e.Data, isError: true);
        process.Start();
        process.StandardInput.Close(); // a sample never reads its input
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
        return sample;
    }

    /// <summary>Runs the sample to its end and returns what it printed and its exit code.</summary>
    public static async Task<SampleRun> RunAsync(string name, params string[] args)
    {
        await using var sample = Start(name, args);
        return await sample.WaitForExitAsync();
    }

    /// <summary>Runs the sample to its end with extra environment variables.</summary>
    public static async Task<SampleRun> RunAsync(string name, IReadOnlyDictionary<string, string?> environment, params string[] args)
    {
        await using var sample = Start(name, args, environment);
        return await sample.WaitForExitAsync();
    }

    /// <summary>Everything printed so far, standard error lines marked "stderr:".</summary>
    public string Transcript
    {
        get
        {
            lock (_gate)
            {
                return _transcript.ToString();
            }
        }
    }

    /// <summary>Waits until a line of standard output matches <paramref name="pattern"/>, and returns the match.</summary>
    public async Task<Match> WaitForLineAsync(string pattern, TimeSpan? timeout = null)
    {
        using var limit = CancellationTokenSource.CreateLinkedTokenSource(TestContext.Current.CancellationToken);
        limit.CancelAfter(timeout ?? DefaultTimeout);
        var regex = new Regex(pattern, RegexOptions.CultureInvariant);
        while (true)
        {
            lock (_gate)
            {
                if (_lines.Select(line => regex.Match(line)).FirstOrDefault(match => match.Success) is { } match)
                {
                    return match;
                }
            }

            if (_process.HasExited || limit.IsCancellationRequested)
            {
                Kill();
                Assert.Fail($"{_name} printed no line matching /{pattern}/ {(_process.HasExited ? "before it exited" : "in time")}. Its output:\n{Transcript}");
            }

            try
            {
                await Task.Delay(20, limit.Token);
            }
            catch (OperationCanceledException)
            {
                // Checked at the top of the loop.
            }
        }
    }

    /// <summary>Sends SIGTERM, as <c>kill</c> or <c>docker stop</c> does.</summary>
    public async Task TerminateAsync()
    {
        using var kill = Process.Start(new ProcessStartInfo("kill") { ArgumentList = { "-TERM", _process.Id.ToString(System.Globalization.CultureInfo.InvariantCulture) }, UseShellExecute = false })!;
        await kill.WaitForExitAsync(TestContext.Current.CancellationToken);
        kill.ExitCode.Should().Be(0, "kill -TERM reaches the sample's process");
    }

    /// <summary>Waits for the sample to exit; past <paramref name="timeout"/> kills its process tree and fails with its output.</summary>
    public async Task<SampleRun> WaitForExitAsync(TimeSpan? timeout = null)
    {
        using var limit = CancellationTokenSource.CreateLinkedTokenSource(TestContext.Current.CancellationToken);
        limit.CancelAfter(timeout ?? DefaultTimeout);
        try
        {
            await _process.WaitForExitAsync(limit.Token); // also waits for the end of the redirected output
        }
        catch (OperationCanceledException)
        {
            Kill();
            Assert.Fail($"{_name} did not exit within {(timeout ?? DefaultTimeout).TotalSeconds:0} s and was killed. Its output:\n{Transcript}");
        }

        var run = new SampleRun(_name, _process.ExitCode, [.. Snapshot()], Transcript);
        TestContext.Current.TestOutputHelper?.WriteLine($"{_name} exited with {run.ExitCode}:\n{run.Transcript}");
        return run;
    }

    public async ValueTask DisposeAsync()
    {
        if (!_process.HasExited)
        {
            Kill();
            await _process.WaitForExitAsync();
        }

        _process.Dispose();
    }

    private string[] Snapshot()
    {
        lock (_gate)
        {
            return [.. _lines];
        }
    }

    private void Kill()
    {
        try
        {
            _process.Kill(entireProcessTree: true);
        }
        catch (InvalidOperationException)
        {
            // It exited meanwhile.
        }
    }

    private void Record(string? line, bool isError)
    {
        if (line is null)
        {
            return;
        }

        lock (_gate)
        {
            if (isError)
            {
                _transcript.Append("stderr: ");
            }
            else
            {
                _lines.Add(line);
            }

            _transcript.AppendLine(line);
        }
    }
}
