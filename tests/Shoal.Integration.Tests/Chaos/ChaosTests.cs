using System.Diagnostics;
using System.Globalization;
using Shoal.Integration.Tests.Support;
using Xunit.Abstractions;

namespace Shoal.Integration.Tests.Chaos;

/// <summary>
/// Five node processes sharing, getting, putting and syncing a folder while a seeded schedule kills and restarts
/// them and breaks the links between them; afterwards nothing may be lost or corrupt. CI runs a short fixed seed;
/// <c>bench/chaos --seed N --minutes M</c> runs this same test longer (through the variables below).
/// </summary>
public sealed class ChaosTests(ITestOutputHelper output)
{
    private const int Nodes = 5;

    [Fact]
    public async Task Five_nodes_under_kills_and_link_faults_lose_and_corrupt_nothing()
    {
        var seed = int.Parse(Environment.GetEnvironmentVariable("SHOAL_CHAOS_SEED") ?? "1", CultureInfo.InvariantCulture);
        var seconds = int.Parse(Environment.GetEnvironmentVariable("SHOAL_CHAOS_SECONDS") ?? "30", CultureInfo.InvariantCulture);
        var keep = Environment.GetEnvironmentVariable("SHOAL_CHAOS_WORK") is { Length: > 0 } work ? work : null;
        var duration = TimeSpan.FromSeconds(seconds);
        var directory = new TempDirectory("shoal-chaos", keep);
        var logPath = Path.Combine(directory.Path, "chaos.log");
        var clock = Stopwatch.StartNew();
        void Log(string line)
        {
            line = $"[{clock.Elapsed.TotalSeconds,7:0.0}s] {line}";
            lock (output)
            {
                output.WriteLine(line);
                File.AppendAllText(logPath, line + Environment.NewLine);
            }
        }

        var failed = true;
        try
        {
            var schedule = ChaosSchedule.Create(seed, Nodes, duration);
            Log($"chaos: seed {seed}, {seconds} s, {Nodes} nodes; {schedule.Count} events; work directory {directory.Path}");
            foreach (var chaosEvent in schedule) Log($"  scheduled {chaosEvent}");

            await using var cluster = await ChaosCluster.StartAsync(directory.Path, Nodes, seed);
            Log("nodes up");
            var workload = new ChaosWorkload(cluster, seed, Log);
            await workload.RunAsync(schedule);
            var failures = await new ChaosInvariants(cluster, workload, seed, Log).CheckAsync(TimeSpan.FromMinutes(3));
            Log($"checked {workload.Shares.Count} shares, {workload.Downloads.Count} downloads, {workload.Puts.Count} puts, {workload.Writes.Count} folder writes: {failures.Count} failures");

            failed = failures.Count > 0 || workload.Failures > 0;
            Assert.True(
                !failed,
                $"chaos seed {seed} ({seconds} s) broke {failures.Count} invariants and {workload.Failures} operations failed (replay: bench/chaos --seed {seed} --seconds {seconds}; "
                + $"logs in {directory.Path}):\n{string.Join('\n', failures)}");
        }
        finally
        {
            // A failed run keeps its node logs and homes for a look; a passed one (or a kept work directory) is tidied.
            if (!failed && keep is null) directory.Dispose();
        }
    }
}
