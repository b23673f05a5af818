using System.Text;

namespace Shoal.Integration.Tests.Testbed;

/// <summary>Setting up a network of testbed nodes and watching it through each node's own CLI.</summary>
internal static class TestbedNetwork
{
    private static readonly TimeSpan PollInterval = TimeSpan.FromMilliseconds(250);

    /// <summary>Node 1 founds a network; hosts 2..count join with node 1's invite. Extra arguments per host, from host 1.</summary>
    public static async Task<TestbedNode[]> StartNetworkAsync(Testbed bed, int count, params string[][] extraArgs)
    {
        string[] ArgsFor(int host) => host <= extraArgs.Length ? extraArgs[host - 1] : [];

        var firstHome = bed.Directory.Combine("h1");
        await InitAsync(bed, 1, firstHome, joinCode: null);
        var first = await bed.StartNodeAsync(1, firstHome, ArgsFor(1));

        // Run inside host 1's namespace so the invite carries the address the running node listens on.
        var invite = await first.RunCliAsync("invite");
        Assert.True(invite.ExitCode == 0, ProcessRunner.Describe(invite));
        var code = invite.Stdout.Trim();

        var joiners = await Task.WhenAll(Enumerable.Range(2, count - 1).Select(async host =>
        {
            var home = bed.Directory.Combine($"h{host}");
            await InitAsync(bed, host, home, code);
            return await bed.StartNodeAsync(host, home, ArgsFor(host));
        }));
        return [first, .. joiners];
    }

    public static async Task InitAsync(Testbed bed, int host, string home, string? joinCode)
    {
        string[] args = joinCode is null
            ? ["init", "--home", home, "--name", $"host{host}"]
            : ["init", "--home", home, "--name", $"host{host}", "--join", joinCode];
        var result = await bed.ShoalAsync(host, args);
        Assert.True(result.ExitCode == 0, $"init on host {host}: {ProcessRunner.Describe(result)}");
    }

    public static async Task<bool> SeesAllOnlineAsync(TestbedNode node, IEnumerable<TestbedNode> others)
    {
        var online = (await node.PeersAsync()).Where(p => p.Online).Select(p => p.Id).ToHashSet();
        return others.All(o => online.Contains(o.Id));
    }

    public static async Task<string> PeerTablesAsync(IEnumerable<TestbedNode> nodes)
    {
        var text = new StringBuilder();
        foreach (var node in nodes)
        {
            text.Append("host ").Append(node.Host).Append(" (").Append(node.Name).Append(", ").Append(node.Id).Append("): ");
            try
            {
                if (node.HasExited)
                {
                    text.AppendLine("not running");
                    continue;
                }

                var peers = await node.PeersAsync();
                text.AppendLine(string.Join("; ", peers.Select(p => $"{p.Name} {(p.Revoked ? "revoked " : "")}{(p.Online ? "online" : "offline")} [{string.Join(' ', p.Addresses)}]")));
            }
            catch (Exception e) when (e is InvalidOperationException or TimeoutException or System.Text.Json.JsonException)
            {
                text.AppendLine(e.Message);
            }
        }

        return text.ToString();
    }

    /// <summary>Polls through the CLI (a process per question), so the interval is coarser than Eventually's.</summary>
    public static async Task UntilAsync(Func<Task<bool>> condition, TimeSpan timeout, string what, Func<Task<string>> describe)
    {
        var deadline = DateTime.UtcNow + timeout;
        while (!await condition())
        {
            if (DateTime.UtcNow > deadline) throw new TimeoutException($"timed out after {timeout.TotalSeconds:F0} s waiting for {what}; peers:\n{await describe()}");
            await Task.Delay(PollInterval);
        }
    }
}
