using Shoal.Integration.Tests.Support;

namespace Shoal.Integration.Tests;

/// <summary>What the chaos test (Chaos/) found a restart to lose, each shown on its own.</summary>
public sealed class RestartRecoveryTests
{
    [Fact]
    public async Task A_download_accepted_while_no_source_is_online_is_still_there_after_a_restart()
    {
        var nodes = new List<TestNode>();
        try
        {
            var seed = await TestNode.StartFoundingAsync("seed");
            nodes.Add(seed);
            var downloader = await TestNode.StartJoiningAsync("downloader", seed);
            nodes.Add(downloader);
            var path = TestFiles.Create(seed.Directory.Combine("src", "late.bin"), 3 * 1024 * 1024, seed: 51);
            var shared = await seed.ShareAsync(path);
            await seed.StopAsync();
            await Eventually.TrueAsync(() => downloader.Node.Connections.Get(seed.Node.DeviceId) is not { IsOpen: true }, "the seed to be gone");

            // Accepted, but with no source the node cannot even learn the file's size yet.
            var transfer = await downloader.StartDownloadAsync(shared.Link);
            await downloader.StopAsync();
            var restarted = await downloader.StartAgainAsync();
            nodes.Add(restarted);

            Assert.Equal(shared.Id, (await restarted.TransferAsync(transfer.Id)).Id);
            nodes.Add(await seed.StartAgainAsync(o => o with { Peers = [restarted.Address] }));
            var done = await Eventually.ValueAsync(
                async () => await restarted.TransferAsync(transfer.Id) is { State: "completed" } t ? t : null, "the download to finish once the seed is back");
            Assert.Equal(TestFiles.Sha256(path), TestFiles.Sha256(done.Path!));
        }
        finally
        {
            foreach (var node in nodes) await node.DisposeAsync();
        }
    }
}
