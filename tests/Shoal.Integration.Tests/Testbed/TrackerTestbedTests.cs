using System.Diagnostics;
using System.Text.Json;
using Microsoft.Data.Sqlite;
using Shoal.Core;
using Shoal.Integration.Tests.Support;
using Shoal.Node.Home;
using Xunit.Abstractions;

using static Shoal.Integration.Tests.Testbed.TestbedNetwork;

namespace Shoal.Integration.Tests.Testbed;

/// <summary>
/// Two LANs joined by a router, so LAN discovery cannot cross (see <see cref="RoutedTestbedTests"/>); invites carry no
/// address. Hosts 1-3 are on the first LAN: the tracker, node A, node C. Host 4, node B, is alone on the second.
/// B can only learn of A and C through the tracker, and C, once A is gone, can only fetch from B.
/// </summary>
public sealed class TrackerTestbedTests(ITestOutputHelper output)
{
    private const int TrackerHost = 1;
    private const int HostA = 2;
    private const int HostC = 3;
    private const int HostB = 4;

    [RootFact]
    public async Task Nodes_on_different_subnets_meet_through_the_tracker_and_a_downloader_becomes_a_source()
    {
        await using var bed = await Testbed.CreateAsync(4, split: 3);
        var database = bed.Directory.Combine("tracker", "tracker.db");
        Directory.CreateDirectory(Path.GetDirectoryName(database)!);
        await using var tracker = await StartTrackerAsync(bed, TrackerHost, ["--listen", $"{bed.HostAddress(TrackerHost)}:7423", "--db", database, "--interval", "2"]);
        string[] useTracker = ["--tracker", $"http://{bed.HostAddress(TrackerHost)}:7423"];

        var homeA = bed.Directory.Combine("a");
        await InitAsync(bed, HostA, homeA, joinCode: null);
        var invite = NodeSetup.CreateInvite(new NodeHome(homeA), []);
        var homeB = bed.Directory.Combine("b");
        var homeC = bed.Directory.Combine("c");
        await InitAsync(bed, HostB, homeB, invite);
        await InitAsync(bed, HostC, homeC, invite);
        var a = await bed.StartNodeAsync(HostA, homeA, useTracker);
        var b = await bed.StartNodeAsync(HostB, homeB, useTracker);
        var c = await bed.StartNodeAsync(HostC, homeC, useTracker);
        var nodes = new[] { a, b, c };
        await UntilAsync(() => SeesAllOnlineAsync(b, [a, c]), TimeSpan.FromSeconds(60), "B to reach A and C through the tracker", () => PeerTablesAsync(nodes));

        var source = TestFiles.Create(bed.Directory.Combine("src", "survey.csv"), (5 << 20) + 11, seed: 61);
        var share = await a.RunCliAsync("share", source, "--json");
        Assert.True(share.ExitCode == 0, ProcessRunner.Describe(share));
        using var shared = JsonDocument.Parse(share.Stdout);
        var link = shared.RootElement[0].GetProperty("link").GetString()!;
        var id = shared.RootElement[0].GetProperty("id").GetString()!;

        var toB = bed.Directory.Combine("downloads-b");
        var getB = await b.RunCliAsync("get", link, "-o", toB);
        Assert.True(getB.ExitCode == 0, ProcessRunner.Describe(getB));
        Assert.Equal(TestFiles.Sha256(source), TestFiles.Sha256(Path.Combine(toB, "survey.csv")));

        // The tracker's own records (its SQLite file, read from outside): B holds every chunk now.
        var deviceB = DeviceId.Parse(b.Id).Value.ToHex();
        await UntilAsync(() => Task.FromResult(HoldsAll(database, deviceB, id)), TimeSpan.FromSeconds(30), "the tracker to list B as a holder of every chunk", () => Task.FromResult(tracker.Output));

        // A leaves; C (on A's LAN, not B's) fetches from B.
        await a.KillAsync();
        var clock = Stopwatch.StartNew();
        var toC = bed.Directory.Combine("downloads-c");
        var getC = await c.RunCliAsync("get", link, "-o", toC);
        Assert.True(getC.ExitCode == 0, ProcessRunner.Describe(getC));
        Assert.Equal(TestFiles.Sha256(source), TestFiles.Sha256(Path.Combine(toC, "survey.csv")));
        output.WriteLine($"C fetched from B across the router in {clock.Elapsed.TotalSeconds:F1} s");
    }

    private static bool HoldsAll(string database, string device, string file)
    {
        using var connection = new SqliteConnection(new SqliteConnectionStringBuilder { DataSource = database, Mode = SqliteOpenMode.ReadOnly }.ToString());
        connection.Open();
        using var command = connection.CreateCommand();
        command.CommandText = "SELECT count(*) FROM holdings WHERE device = $device AND file = $file AND chunks IS NULL";
        command.Parameters.AddWithValue("$device", device);
        command.Parameters.AddWithValue("$file", file);
        return Convert.ToInt64(command.ExecuteScalar(), System.Globalization.CultureInfo.InvariantCulture) == 1;
    }

    /// <summary><c>shoal tracker</c> in one host's namespace, once it says it is up.</summary>
    private static async Task<TestbedProcess> StartTrackerAsync(Testbed bed, int host, IReadOnlyList<string> args)
    {
        var tracker = TestbedProcess.Start(bed, host, ["tracker", .. args]);
        try
        {
            await Eventually.TrueAsync(
                () => tracker.HasExited ? throw new InvalidOperationException($"shoal tracker exited with {tracker.ExitCode}: {tracker.Output}") : tracker.Output.Contains("is up on", StringComparison.Ordinal),
                "the tracker to start",
                TimeSpan.FromSeconds(60));
        }
        catch
        {
            await tracker.DisposeAsync();
            throw;
        }

        return tracker;
    }
}
