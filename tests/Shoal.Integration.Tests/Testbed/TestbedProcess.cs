using System.Diagnostics;
using System.Text;

namespace Shoal.Integration.Tests.Testbed;

/// <summary>A long-running <c>shoal</c> command in one host's namespace, its output kept; killed (whole tree) on dispose.</summary>
public sealed class TestbedProcess : IAsyncDisposable
{
    private readonly Process _process;
    private readonly StringBuilder _output = new();
    private bool _disposed;

    private TestbedProcess(Process process) => _process = process;

    public bool HasExited => _disposed || _process.HasExited;

    public int ExitCode => _process.ExitCode;

    /// <summary>Everything the process printed so far, for assertions and failure messages.</summary>
    public string Output
    {
        get
        {
            lock (_output) return _output.ToString();
        }
    }

    /// <param name="environment">NAME=VALUE settings for the command (through env(1): ip netns exec passes its own on).</param>
    public static TestbedProcess Start(Testbed testbed, int host, IReadOnlyList<string> shoalArgs, params string[] environment)
    {
        IEnumerable<string> env = environment.Length == 0 ? [] : ["env", .. environment];
        var info = ProcessRunner.StartInfo(RootFactAttribute.FindIp() ?? "ip", ["netns", "exec", testbed.Namespace(host), .. env, .. Testbed.ShoalCommand, .. shoalArgs]);
        var process = Process.Start(info) ?? throw new InvalidOperationException("cannot start ip netns exec");
        process.StandardInput.Close();
        var started = new TestbedProcess(process);
        process.OutputDataReceived += (_, e) => started.Append(e.Data);
        process.ErrorDataReceived += (_, e) => started.Append(e.Data);
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
        return started;
    }

    /// <summary>SIGKILL of the whole tree: no shutdown code runs, like a crash or a power cut.</summary>
    public async Task KillAsync()
    {
        if (HasExited) return;
        _process.Kill(entireProcessTree: true);
        await _process.WaitForExitAsync();
    }

    public async ValueTask DisposeAsync()
    {
        if (_disposed) return;
        await KillAsync();
        _disposed = true;
        _process.Dispose();
    }

    private void Append(string? line)
    {
        if (line is null) return;
        lock (_output) _output.AppendLine(line);
    }
}
