using System.Collections.Concurrent;
using System.Diagnostics;
using System.Globalization;
using System.Net.Http.Headers;
using System.Net.Http.Json;
using System.Text.Json;
using System.Text.Json.Nodes;

namespace Shoal.Bench;

/// <summary>
/// A node started with the real CLI (<c>shoal up</c>) in its own process, with its REST API, or another long-running
/// command (<c>shoal tracker</c>). CPU and memory are read from /proc; for a node, for the pid it wrote into api.json:
/// that is the process doing the work whatever the wrapper did.
/// </summary>
internal sealed class NodeProcess : IDisposable
{
    private const int TailLines = 40;

    // Generous: ./shoal rebuilds the CLI first if someone changed the sources since the last build.
    private static readonly TimeSpan StartTimeout = TimeSpan.FromMinutes(3);

    // Every node ever started, so an exit path that skips the normal cleanup still kills them.
    private static readonly ConcurrentDictionary<int, Process> Live = new();

    private readonly Process _process;
    private readonly Queue<string> _tail = new();
    private readonly string? _netns;
    private HttpClient? _api;
    private bool _disposed;

    private NodeProcess(string name, Process process, string? netns)
    {
        Name = name;
        _process = process;
        _netns = netns;
    }

    public string Name { get; }

    public int Pid { get; private set; }

    public string ListenAddress { get; private set; } = "";

    /// <param name="host">A testbed host to run in (see <see cref="Netns"/>): the node listens on the host's address; its API stays on that namespace's loopback.</param>
    public static NodeProcess Start(string shoal, string name, string home, IEnumerable<string> peers, IEnumerable<string>? extraArgs = null, NetnsHost? host = null)
    {
        List<string> arguments = ["up", "--home", home, "--listen", host?.Listen ?? "127.0.0.1:0", "--api", "127.0.0.1:0", "--no-discovery", .. extraArgs ?? []];
        foreach (var peer in peers) arguments.AddRange(["--peer", peer]);
        return StartCommand(shoal, name, arguments, host?.Namespace);
    }

    /// <summary>Any long-running command, such as <c>shoal tracker</c>: <see cref="Pid"/> is the wrapper's, which execs the CLI.</summary>
    /// <param name="netns">A network namespace to run it in (<c>ip netns exec</c>, which execs the command: the pid stays the command's).</param>
    public static NodeProcess StartCommand(string shoal, string name, IEnumerable<string> arguments, string? netns = null)
    {
        var info = new ProcessStartInfo(netns is null ? shoal : "ip")
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        if (netns is not null)
        {
            foreach (var argument in new[] { "netns", "exec", netns, shoal }) info.ArgumentList.Add(argument);
        }

        foreach (var argument in arguments) info.ArgumentList.Add(argument);

        var process = new Process { StartInfo = info };
        var node = new NodeProcess(name, process, netns);
        process.OutputDataReceived += (_, e) => node.Remember(e.Data);
        process.ErrorDataReceived += (_, e) => node.Remember(e.Data);
        process.Start();
        Live[process.Id] = process;
        node.Pid = process.Id;
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
        return node;
    }

    public static void KillAll()
    {
        foreach (var process in Live.Values) Kill(process);
    }

    /// <summary>Waits for api.json and a first answer from the API; then the node is listening.</summary>
    public async Task WaitUntilUpAsync(string home, CancellationToken cancellationToken)
    {
        var runtimePath = Path.Combine(home, "api.json");
        var deadline = Stopwatch.StartNew();
        while (true)
        {
            cancellationToken.ThrowIfCancellationRequested();
            ThrowIfExited("while starting");
            if (deadline.Elapsed > StartTimeout) throw new BenchException($"node {Name} did not come up within {StartTimeout.TotalSeconds:0} s{Environment.NewLine}{Tail()}");
            if (File.Exists(runtimePath))
            {
                try
                {
                    var runtime = JsonNode.Parse(await File.ReadAllTextAsync(runtimePath, cancellationToken).ConfigureAwait(false))!;
                    _api ??= new HttpClient(Netns.Handler(_netns)) { BaseAddress = new Uri((string)runtime["url"]! + "/"), Timeout = TimeSpan.FromMinutes(30) };
                    _api.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", (string)runtime["token"]!);
                    Pid = (int)runtime["pid"]!;
                    var status = await GetAsync("api/status", cancellationToken).ConfigureAwait(false);
                    ListenAddress = (string)status["listen"]![0]!;
                    return;
                }
                catch (Exception e) when (e is JsonException or IOException or HttpRequestException or BenchException)
                {
                    // Written but not yet serving, or caught mid-write: try again shortly.
                }
            }

            await Task.Delay(50, cancellationToken).ConfigureAwait(false);
        }
    }

    public Task<JsonNode> GetAsync(string path, CancellationToken cancellationToken) =>
        SendAsync(HttpMethod.Get, path, null, cancellationToken);

    public Task<JsonNode> PostAsync(string path, JsonObject body, CancellationToken cancellationToken) =>
        SendAsync(HttpMethod.Post, path, body, cancellationToken);

    private async Task<JsonNode> SendAsync(HttpMethod method, string path, JsonObject? body, CancellationToken cancellationToken)
    {
        var api = _api ?? throw new InvalidOperationException($"node {Name} is not up");
        using var request = new HttpRequestMessage(method, path) { Content = body is null ? null : JsonContent.Create(body) };
        HttpResponseMessage response;
        try
        {
            response = await api.SendAsync(request, cancellationToken).ConfigureAwait(false);
        }
        catch (HttpRequestException e)
        {
            // Most likely the node died: then its own output says more than the connection error.
            ThrowIfExited($"(its API at {api.BaseAddress} stopped answering)");
            throw new BenchException($"node {Name}: {method} /{path} failed: {e.Message}");
        }

        using (response)
        {
            var text = await response.Content.ReadAsStringAsync(cancellationToken).ConfigureAwait(false);
            if (!response.IsSuccessStatusCode) throw new BenchException($"node {Name}: {method} /{path} answered {(int)response.StatusCode}: {text}");
            return JsonNode.Parse(text) ?? throw new BenchException($"node {Name}: {method} /{path} answered nothing");
        }
    }

    /// <summary>For a command that ends by itself (an aria2 leecher): its exit code, or null while it still runs after <paramref name="timeout"/>.</summary>
    public async Task<int?> WaitForExitAsync(TimeSpan timeout, CancellationToken cancellationToken)
    {
        using var limit = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        limit.CancelAfter(timeout);
        try
        {
            await _process.WaitForExitAsync(limit.Token).ConfigureAwait(false);
            return _process.ExitCode;
        }
        catch (OperationCanceledException) when (!cancellationToken.IsCancellationRequested)
        {
            return null;
        }
    }

    public void ThrowIfExited(string when)
    {
        if (!_process.HasExited) return;
        _process.WaitForExit(); // drains the output readers, so the tail is complete
        throw new BenchException($"node {Name} (pid {_process.Id}) exited with code {_process.ExitCode} {when}; its last output:{Environment.NewLine}{Tail()}");
    }

    public long CpuTicks() => CpuTicks(Stat(Pid));

    /// <summary>utime + stime in clock ticks, fields 14 and 15 of /proc/PID/stat.</summary>
    public static long CpuTicks(string[] stat) =>
        long.Parse(stat[11], CultureInfo.InvariantCulture) + long.Parse(stat[12], CultureInfo.InvariantCulture);

    /// <summary>
    /// The fields of /proc/PID/stat from the third on (state, parent pid, ...): counted after the parenthesised name,
    /// which may itself contain spaces.
    /// </summary>
    public static string[] Stat(int pid)
    {
        var stat = File.ReadAllText($"/proc/{pid}/stat");
        return stat[(stat.LastIndexOf(')') + 2)..].Split(' ');
    }

    /// <summary>A "kB" line of /proc/PID/status, such as VmRSS or VmHWM, in bytes.</summary>
    public long StatusBytes(string field)
    {
        foreach (var line in File.ReadLines($"/proc/{Pid}/status"))
        {
            if (!line.StartsWith(field + ":", StringComparison.Ordinal)) continue;
            var value = line[(field.Length + 1)..].Trim().Split(' ')[0];
            return long.Parse(value, CultureInfo.InvariantCulture) * 1024;
        }

        throw new BenchException($"/proc/{Pid}/status has no {field}");
    }

    public string Tail()
    {
        lock (_tail) return string.Join(Environment.NewLine, _tail.Select(l => $"  [{Name}] {l}"));
    }

    private void Remember(string? line)
    {
        if (line is null) return;
        lock (_tail)
        {
            _tail.Enqueue(line);
            if (_tail.Count > TailLines) _tail.Dequeue();
        }
    }

    private static void Kill(Process process)
    {
        try
        {
            if (!process.HasExited)
            {
                process.Kill(entireProcessTree: true);
                process.WaitForExit(5000);
            }
        }
        catch (Exception e) when (e is InvalidOperationException or System.ComponentModel.Win32Exception)
        {
            // Already gone.
        }
    }

    public void Dispose()
    {
        if (_disposed) return;
        _disposed = true;
        Kill(_process);
        Live.TryRemove(_process.Id, out _);
        _api?.Dispose();
        _process.Dispose();
    }
}

/// <summary>Short-lived helper commands (shoal init/invite, git, getconf): their stdout, or a failure with their stderr.</summary>
internal static class Command
{
    public static async Task<string> RunAsync(string file, IEnumerable<string> args, CancellationToken cancellationToken, string? workingDirectory = null)
    {
        var info = new ProcessStartInfo(file)
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
            WorkingDirectory = workingDirectory ?? Environment.CurrentDirectory,
        };
        foreach (var arg in args) info.ArgumentList.Add(arg);
        using var process = Process.Start(info) ?? throw new BenchException($"cannot start {file}");
        var stdout = process.StandardOutput.ReadToEndAsync(cancellationToken);
        var stderr = process.StandardError.ReadToEndAsync(cancellationToken);
        try
        {
            await process.WaitForExitAsync(cancellationToken).ConfigureAwait(false);
        }
        catch (OperationCanceledException)
        {
            process.Kill(entireProcessTree: true);
            throw;
        }

        if (process.ExitCode != 0)
        {
            throw new BenchException($"{Path.GetFileName(file)} {string.Join(' ', info.ArgumentList)} failed with exit code {process.ExitCode}: {(await stderr.ConfigureAwait(false)).Trim()}");
        }

        return (await stdout.ConfigureAwait(false)).Trim();
    }

    public static async Task<string> TryRunAsync(string file, IEnumerable<string> args, string? workingDirectory = null)
    {
        try
        {
            return await RunAsync(file, args, CancellationToken.None, workingDirectory).ConfigureAwait(false);
        }
        catch (Exception e) when (e is BenchException or System.ComponentModel.Win32Exception)
        {
            return "";
        }
    }
}
