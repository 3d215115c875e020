using System.Diagnostics;
using System.Threading.Channels;

namespace AsyncPatterns.Redis.Tests;

/// <summary>
/// One AsyncPatterns.Redis.TestWorker process (<c>dotnet AsyncPatterns.Redis.TestWorker.dll mode …</c>): its stdout lines
/// are read as they come; disposing kills it if it still runs, so a failed test leaves no process behind.
/// </summary>
public sealed class WorkerProcess : IAsyncDisposable
{
    private readonly Process _process;
    private readonly Channel<string> _lines = Channel.CreateUnbounded<string>();
    private readonly List<string> _errors = [];

    private WorkerProcess(Process process) => _process = process;

    public int Id => _process.Id;

    public static WorkerProcess Start(params string[] arguments)
    {
        var info = new ProcessStartInfo("dotnet")
        {
            RedirectStandardInput = true,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        info.ArgumentList.Add(Path.Combine(AppContext.BaseDirectory, "AsyncPatterns.Redis.TestWorker.dll"));
        foreach (var argument in arguments)
        {
            info.ArgumentList.Add(argument);
        }

        var process = new Process { StartInfo = info, EnableRaisingEvents = true };
        var worker = new WorkerProcess(process);
        process.OutputDataReceived += (_, e) =>
        {
            if (e.Data is null)
            {
                worker._lines.Writer.TryComplete();
            }
            else
            {
                worker._lines.Writer.TryWrite(e.Data);
            }
        };
        process.ErrorDataReceived += (_, e) =>
        {
            if (e.Data is not null)
            {
                lock (worker._errors)
                {
                    worker._errors.Add(e.Data);
                }
            }
        };
        process.Start();
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
        return worker;
    }

    /// <summary>Reads lines until one equals <paramref name="line"/>; returns the lines before it.</summary>
    public async Task<IReadOnlyList<string>> ReadUntilAsync(string line, CancellationToken cancellationToken)
    {
        var before = new List<string>();
        try
        {
            await foreach (var read in _lines.Reader.ReadAllAsync(cancellationToken))
            {
                if (read == line)
                {
                    return before;
                }

                before.Add(read);
            }
        }
        catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
        {
            throw new TimeoutException($"Worker {Id} did not write {line}. {Errors()}");
        }

        throw new InvalidOperationException($"Worker {Id} exited without writing {line}. {Errors()}");
    }

    public async Task SendAsync(string line)
    {
        await _process.StandardInput.WriteLineAsync(line);
        await _process.StandardInput.FlushAsync();
    }

    /// <summary>Waits for a clean exit (code 0).</summary>
    public async Task ExitAsync(CancellationToken cancellationToken)
    {
        await _process.WaitForExitAsync(cancellationToken);
        _process.ExitCode.Should().Be(0, "worker {0} exits cleanly ({1})", Id, Errors());
    }

    /// <summary>Kills the process at once (SIGKILL): nothing it holds is released by it.</summary>
    public async Task KillAsync()
    {
        _process.Kill(entireProcessTree: true);
        await _process.WaitForExitAsync(CancellationToken.None);
    }

    public async ValueTask DisposeAsync()
    {
        if (!_process.HasExited)
        {
            await KillAsync();
        }

        _process.Dispose();
    }

    private string Errors()
    {
        lock (_errors)
        {
            return _errors.Count == 0 ? "No stderr." : "stderr: " + string.Join(Environment.NewLine, _errors);
        }
    }
}
