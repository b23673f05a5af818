using System.Net;
using Shoal.Core;
using Shoal.Faults;
using Shoal.Integration.Tests.Support;
using Shoal.Net.Connections;
using Shoal.Node.Api;
using Shoal.Node.Home;

namespace Shoal.Integration.Tests;

/// <summary>
/// A seed and a downloader that reaches it only through a <see cref="FaultProxy"/>: what the node does when the
/// link between them corrupts, stalls, drops or crawls.
/// </summary>
public sealed class FaultyLinkTests
{
    /// <summary>Short enough to see a silent link closed within seconds, long enough for a loaded machine.</summary>
    private static readonly KeepAlive QuickKeepAlive = new(TimeSpan.FromSeconds(1), TimeSpan.FromSeconds(4));

    [Fact]
    public async Task A_flipped_bit_closes_the_link_and_the_download_completes_with_no_bad_chunk()
    {
        await using var link = await Link.StartAsync(uploadLimit: 8 * 1024 * 1024);
        const long size = 24L * 1024 * 1024;
        var (path, shared) = await link.ShareAsync(size, seed: 41);
        var first = link.SeedAsSeenByDownloader()!;
        // Three flips in the seed's traffic, one in each third of the file.
        foreach (var offset in new[] { 4L, 12L, 20L }) link.Proxy.Downstream.FlipAt(offset * 1024 * 1024);

        var got = await link.Downloader.DownloadAsync(shared.Link, TimeSpan.FromMinutes(3));

        Assert.Equal(TestFiles.Sha256(path), TestFiles.Sha256(got.Path!));
        Assert.Equal(3, link.Proxy.Downstream.BitsFlipped);
        // TLS refused each corrupted record: the link closed (and said why), the downloader dialled again, and no
        // chunk ever failed its hash, or the seed would have a strike.
        Assert.StartsWith("connection lost", await first.Closed.WaitAsync(TimeSpan.FromMinutes(1)), StringComparison.Ordinal);
        Assert.True(link.Proxy.ConnectionsAccepted >= 4, $"{link.Proxy.ConnectionsAccepted} connections through the proxy");
        Assert.Equal(0, link.Downloader.Node.Reputation.StrikesOf(link.Seed.Node.DeviceId));
        Assert.False(link.Downloader.Node.Reputation.IsBanned(link.Seed.Node.DeviceId));
        Assert.True(link.DownloaderLog.Contains("ended: connection lost"), string.Join('\n', link.DownloaderLog.Lines));
    }

    [Fact]
    public async Task A_stalled_link_is_closed_as_silent_and_the_download_resumes_when_it_flows_again()
    {
        await using var link = await Link.StartAsync(uploadLimit: 4 * 1024 * 1024);
        const long size = 16L * 1024 * 1024;
        var (path, shared) = await link.ShareAsync(size, seed: 42);
        var transfer = await link.Downloader.StartDownloadAsync(shared.Link);
        await Eventually.TrueAsync(async () => (await link.Downloader.TransferAsync(transfer.Id)).VerifiedBytes > 0, "the download to start");
        var stalled = link.SeedAsSeenByDownloader()!;

        link.Proxy.Downstream.Stall();

        Assert.Equal("Timeout: no traffic from the peer", await stalled.Closed.WaitAsync(TimeSpan.FromMinutes(1)));
        Assert.NotEqual("completed", (await link.Downloader.TransferAsync(transfer.Id)).State);
        link.Proxy.Downstream.Resume();
        var done = await Eventually.ValueAsync(
            async () => await link.Downloader.TransferAsync(transfer.Id) is { State: "completed" } t ? t : null, "the download to finish", TimeSpan.FromMinutes(3));
        Assert.Equal(TestFiles.Sha256(path), TestFiles.Sha256(done.Path!));
    }

    [Fact]
    public async Task Links_cut_mid_transfer_resume_without_fetching_verified_chunks_again()
    {
        await using var link = await Link.StartAsync(uploadLimit: 8 * 1024 * 1024);
        const long size = 32L * 1024 * 1024;
        var (path, shared) = await link.ShareAsync(size, seed: 43);
        var transfer = await link.Downloader.StartDownloadAsync(shared.Link);

        foreach (var third in new[] { 1, 2 })
        {
            await Eventually.TrueAsync(
                async () => (await link.Downloader.TransferAsync(transfer.Id)).VerifiedBytes >= size * third / 3, $"{third}/3 of the file to arrive", TimeSpan.FromMinutes(2));
            Assert.Equal(1, link.Proxy.Cut());
        }

        var done = await Eventually.ValueAsync(
            async () => await link.Downloader.TransferAsync(transfer.Id) is { State: "completed" } t ? t : null, "the download to finish", TimeSpan.FromMinutes(3));
        Assert.Equal(TestFiles.Sha256(path), TestFiles.Sha256(done.Path!));
        Assert.True(link.Proxy.ConnectionsAccepted >= 3);
        // Only chunks in flight at each cut may come twice: at most a window's worth per cut.
        var window = new Shoal.Swarm.SwarmOptions().MaxWindowBytes;
        Assert.True(link.Seed.Node.UploadedBytes <= size + (2 * window), $"the seed sent {link.Seed.Node.UploadedBytes} bytes of chunks for a {size}-byte file");
    }

    [Fact]
    public async Task A_link_throttled_below_a_chunk_per_idle_timeout_still_delivers_without_reconnecting()
    {
        await using var link = await Link.StartAsync();
        const long size = 2L * 1024 * 1024;
        const long rate = 128 * 1024;
        var (path, shared) = await link.ShareAsync(size, seed: 44);
        link.Proxy.Downstream.BytesPerSecond = rate;
        // The link is slow, not silent: its largest chunk takes well over the idle timeout to cross it.
        var manifest = link.Seed.Node.Library.GetLocal(FileId.Parse(shared.Id))!.Manifest;
        var largest = Enumerable.Range(0, manifest.ChunkCount).Max(i => manifest[i].Length);
        Assert.True(TimeSpan.FromSeconds((double)largest / rate) > QuickKeepAlive.IdleTimeout * 1.5, $"the largest chunk is only {largest} bytes");

        var got = await link.Downloader.DownloadAsync(shared.Link, TimeSpan.FromMinutes(3));

        Assert.Equal(TestFiles.Sha256(path), TestFiles.Sha256(got.Path!));
        Assert.Equal(1, link.Proxy.ConnectionsAccepted);
        Assert.True(link.Proxy.Downstream.BytesForwarded > size);
    }

    /// <summary>A seed and a downloader whose only address for it is the proxy's.</summary>
    private sealed class Link : IAsyncDisposable
    {
        private Link(TestNode seed, FaultProxy proxy, TestNode downloader, LogCapture downloaderLog)
        {
            Seed = seed;
            Proxy = proxy;
            Downloader = downloader;
            DownloaderLog = downloaderLog;
        }

        public TestNode Seed { get; }

        public FaultProxy Proxy { get; }

        public TestNode Downloader { get; }

        public LogCapture DownloaderLog { get; }

        public static async Task<Link> StartAsync(long uploadLimit = 0)
        {
            var seed = await TestNode.StartAsync("seed", null, [], uploadLimit, configure: o => o with { KeepAlive = QuickKeepAlive });
            var proxy = FaultProxy.Start(IPEndPoint.Parse(seed.Address));
            var through = proxy.EndPoint.ToString();
            var log = new LogCapture();
            try
            {
                var downloader = await TestNode.StartAsync(
                    "downloader", NodeSetup.CreateInvite(seed.Node.Home, [through]), [through], configure: o => o with { KeepAlive = QuickKeepAlive, LoggerFactory = log });
                var link = new Link(seed, proxy, downloader, log);
                await downloader.WaitForPeerAsync(seed);
                return link;
            }
            catch
            {
                await proxy.DisposeAsync();
                await seed.DisposeAsync();
                throw;
            }
        }

        public async Task<(string Path, SharedFileDto Shared)> ShareAsync(long size, int seed)
        {
            var path = TestFiles.Create(Seed.Directory.Combine("src", "file.bin"), size, seed);
            var shared = await Seed.ShareAsync(path);
            await Downloader.WaitForHoldersAsync(FileId.Parse(shared.Id), 1);
            return (path, shared);
        }

        public PeerConnection? SeedAsSeenByDownloader() => Downloader.Node.Connections.Get(Seed.Node.DeviceId);

        public async ValueTask DisposeAsync()
        {
            await Downloader.DisposeAsync();
            await Proxy.DisposeAsync();
            await Seed.DisposeAsync();
        }
    }
}
