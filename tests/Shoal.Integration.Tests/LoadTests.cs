using System.Diagnostics;
using System.Globalization;
using System.Net.Http.Json;
using Shoal.Integration.Tests.Support;
using Shoal.Node.Api;
using Shoal.Node.Home;
using Xunit.Abstractions;

namespace Shoal.Integration.Tests;

/// <summary>
/// Many downloaders on one seed. The seed is a real <c>shoal up</c> process so that its peak memory is its own; the
/// downloaders are nodes in this process. The full 256 MiB case is <c>bench/run --scenario load</c>.
/// </summary>
public sealed class LoadTests(ITestOutputHelper output)
{
    private const int Downloaders = 32;
    private const long FileSize = 32L << 20;

    /// <summary>Generous: the seed holds at most a few chunks per connection, whatever the file's size.</summary>
    private const long SeedPeakLimit = 400L << 20;

    [Fact]
    public async Task Thirty_two_downloaders_of_one_file_from_one_seed_all_verify_and_the_seed_memory_stays_bounded()
    {
        using var seedDirectory = new TempDirectory("shoal-seed");
        await using var seed = await NodeProcess.StartAsync(seedDirectory.Combine("home"));
        var source = TestFiles.Create(seedDirectory.Combine("big.bin"), FileSize, seed: 1);
        var sha256 = TestFiles.Sha256(source);
        var shared = await seed.Api.PostAsJsonAsync("api/share", new ShareRequest([source]), ApiJson.Default.ShareRequest);
        var link = (await shared.Content.ReadFromJsonAsync(ApiJson.Default.IReadOnlyListSharedFileDto))!.Single().Link;
        var address = (await seed.Api.GetFromJsonAsync("api/status", ApiJson.Default.StatusDto))!.Listen[0];
        var invite = NodeSetup.CreateInvite(new NodeHome(seed.Home), [address]);

        var nodes = new List<TestNode>();
        try
        {
            foreach (var batch in Enumerable.Range(0, Downloaders).Chunk(8))
            {
                nodes.AddRange(await Task.WhenAll(batch.Select(i => TestNode.StartAsync($"d{i}", invite, [address]))));
            }

            var clock = Stopwatch.StartNew();
            var downloads = await Task.WhenAll(nodes.Select(n => n.DownloadAsync(link, TimeSpan.FromMinutes(4))));
            var seconds = clock.Elapsed.TotalSeconds;

            Assert.All(downloads, d => Assert.Equal(sha256, TestFiles.Sha256(d.Path!)));
            var peak = StatusBytes(seed.Pid, "VmHWM");
            output.WriteLine(
                $"{Downloaders} downloaders × {FileSize >> 20} MiB: all verified in {seconds.ToString("0.0", CultureInfo.InvariantCulture)} s; seed peak RSS {peak >> 20} MiB");
            Assert.True(peak < SeedPeakLimit, $"the seed's peak RSS is {peak >> 20} MiB");
        }
        finally
        {
            await Task.WhenAll(nodes.Select(n => n.DisposeAsync().AsTask()));
        }
    }

    [Fact]
    public async Task A_seed_at_its_peer_limit_answers_busy_and_every_downloader_gets_in_later()
    {
        await using var seed = await TestNode.StartAsync("seed", null, [], configure: o => o with { MaxPeers = 2 });
        var source = TestFiles.Create(seed.Directory.Combine("file.bin"), 3L << 20, seed: 2);
        var link = (await seed.ShareAsync(source)).Link;
        var invite = NodeSetup.CreateInvite(seed.Node.Home, [seed.Address]);

        // Each downloader leaves once it has the file, making room for one that was told to come back later.
        async Task<string> DownloadAndLeaveAsync(int index)
        {
            await using var node = await TestNode.StartAsync($"d{index}", invite, [seed.Address]);
            var done = await node.DownloadAsync(link, TimeSpan.FromMinutes(2));
            return TestFiles.Sha256(done.Path!);
        }

        var hashes = await Task.WhenAll(Enumerable.Range(0, 4).Select(DownloadAndLeaveAsync));

        Assert.All(hashes, h => Assert.Equal(TestFiles.Sha256(source), h));
        Assert.True(seed.Node.Connections.BusyRefusals > 0, "some downloaders were told to come back later");
        output.WriteLine($"busy refusals: {seed.Node.Connections.BusyRefusals}");
    }

    /// <summary>A size line of /proc/PID/status (VmHWM: the peak resident set), in bytes.</summary>
    private static long StatusBytes(int pid, string field)
    {
        var line = File.ReadLines($"/proc/{pid}/status").First(l => l.StartsWith(field + ":", StringComparison.Ordinal));
        return long.Parse(line[(field.Length + 1)..].Trim().Split(' ')[0], CultureInfo.InvariantCulture) * 1024;
    }
}
