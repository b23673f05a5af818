using System.Diagnostics;
using System.Text;
using System.Text.Json;
using Shoal.Integration.Tests.Support;
using Shoal.Node.Home;

namespace Shoal.Integration.Tests.Testbed;

/// <param name="Link">How an online peer is connected: direct, punched or relayed.</param>
public sealed record PeerView(string Id, string Name, bool Online, IReadOnlyList<string> Addresses, bool Revoked, string? Link = null);

/// <summary>
/// <c>shoal up</c> running in one testbed host's namespace. Its API listens on 127.0.0.1 inside that namespace,
/// out of the test's reach, so every question goes through the CLI run in the same namespace.
/// </summary>
public sealed class TestbedNode : IAsyncDisposable
{
    private readonly TestbedProcess _process;

    private TestbedNode(Testbed testbed, int host, string home, TestbedProcess process)
    {
        Testbed = testbed;
        Host = host;
        Home = home;
        _process = process;
    }

    public Testbed Testbed { get; }

    public int Host { get; }

    public string Home { get; }

    public string Id { get; private set; } = "";

    public string Name { get; private set; } = "";

    public string Address => Testbed.PeerAddress(Host);

    public bool HasExited => _process.HasExited;

    /// <summary>Everything the node printed so far (its log), for assertions and failure messages.</summary>
    public string Output => _process.Output;

    internal static async Task<TestbedNode> StartAsync(Testbed testbed, int host, string home, IReadOnlyList<string> extraArgs)
    {
        var runtime = new NodeHome(home).RuntimePath;
        if (File.Exists(runtime)) File.Delete(runtime);
        var process = TestbedProcess.Start(testbed, host, ["up", "--home", home, "--listen", testbed.PeerAddress(host), "--api", "127.0.0.1:0", .. extraArgs]);
        var node = new TestbedNode(testbed, host, home, process);
        try
        {
            await Eventually.TrueAsync(
                () =>
                {
                    if (process.HasExited) throw new InvalidOperationException($"shoal up on host {host} exited with {process.ExitCode}: {node.Output}");
                    return File.Exists(runtime);
                },
                $"the node on host {host} to start",
                TimeSpan.FromSeconds(60));
            var status = await node.RunCliAsync("status", "--json");
            if (status.ExitCode != 0) throw new InvalidOperationException($"shoal status on host {host}: {ProcessRunner.Describe(status)}");
            using var json = JsonDocument.Parse(status.Stdout);
            node.Id = json.RootElement.GetProperty("id").GetString()!;
            node.Name = json.RootElement.GetProperty("name").GetString()!;
        }
        catch
        {
            await node.DisposeAsync();
            throw;
        }

        return node;
    }

    /// <summary><c>shoal COMMAND --home HOME REST...</c> inside this node's namespace.</summary>
    public Task<CliResult> RunCliAsync(params string[] args)
    {
        ArgumentOutOfRangeException.ThrowIfZero(args.Length);
        return Testbed.ShoalAsync(Host, [args[0], "--home", Home, .. args[1..]]);
    }

    public async Task<IReadOnlyList<PeerView>> PeersAsync()
    {
        var result = await RunCliAsync("peers", "--json");
        if (result.ExitCode != 0) throw new InvalidOperationException($"shoal peers on host {Host}: {ProcessRunner.Describe(result)}");
        using var json = JsonDocument.Parse(result.Stdout);
        return
        [
            .. json.RootElement.EnumerateArray().Select(p => new PeerView(
                p.GetProperty("id").GetString()!,
                p.GetProperty("name").GetString() ?? "",
                p.GetProperty("online").GetBoolean(),
                [.. p.GetProperty("addresses").EnumerateArray().Select(a => a.GetString() ?? "")],
                p.GetProperty("revoked").GetBoolean(),
                p.TryGetProperty("link", out var link) ? link.GetString() : null)),
        ];
    }

    public async Task<bool> SeesOnlineAsync(TestbedNode other) =>
        (await PeersAsync()).Any(p => p.Id == other.Id && p.Online);

    /// <summary>SIGKILL of the whole tree: no shutdown code runs, like a crash or a power cut.</summary>
    public Task KillAsync() => _process.KillAsync();

    public ValueTask DisposeAsync() => _process.DisposeAsync();
}
