using System.Security.Cryptography;
using Microsoft.Extensions.Logging.Abstractions;
using Shoal.Core;
using Shoal.Net.Connections;
using Shoal.Protocol;

namespace Shoal.Net.Tests;

/// <summary>Two real <see cref="PeerConnection"/>s over loopback TCP (no TLS: the framing is what is tested).</summary>
public sealed class PeerConnectionServeTests
{
    private static readonly TimeSpan Timeout = TimeSpan.FromSeconds(20);

    [Fact]
    public async Task A_slow_chunk_read_does_not_hold_up_the_requests_behind_it()
    {
        var chunks = new[] { RandomNumberGenerator.GetBytes(1000), RandomNumberGenerator.GetBytes(2000) };
        var manifest = Manifest.FromLengthsAndHashes([.. chunks.Select(c => (c.Length, Hash256.Compute(c)))]);
        var server = new GatedServices(manifest, chunks);
        var (client, serving) = await ConnectAsync(server);
        await using var clientEnd = client;
        await using var servingEnd = serving;

        var slow = client.RequestChunkAsync(manifest.Id, 0, CancellationToken.None);
        await server.FirstReadStarted.WaitAsync(Timeout);
        using (var fast = await client.RequestChunkAsync(manifest.Id, 1, CancellationToken.None).WaitAsync(Timeout))
        {
            Assert.Equal(chunks[1], fast.Memory.ToArray());
        }

        Assert.False(slow.IsCompleted);
        server.ReleaseFirstRead();
        using var first = await slow.WaitAsync(Timeout);
        Assert.Equal(chunks[0], first.Memory.ToArray());
    }

    [Fact]
    public async Task Chunks_are_served_and_received_in_buffers_of_the_chunk_buffer_pool()
    {
        // The pool bounds what a node keeps for chunks; ArrayPool<byte>.Shared kept more the longer a transfer ran.
        var chunks = Enumerable.Range(0, 8).Select(_ => RandomNumberGenerator.GetBytes(300 * 1024)).ToArray();
        var manifest = Manifest.FromLengthsAndHashes([.. chunks.Select(c => (c.Length, Hash256.Compute(c)))]);
        var server = new GatedServices(manifest, chunks);
        server.ReleaseFirstRead();
        var (client, serving) = await ConnectAsync(server);
        await using var clientEnd = client;
        await using var servingEnd = serving;
        var before = ChunkBufferPool.Shared.Counts.Rents;

        for (var i = 0; i < chunks.Length; i++)
        {
            using var received = await client.RequestChunkAsync(manifest.Id, i, CancellationToken.None).WaitAsync(Timeout);
            Assert.Equal(chunks[i], received.Memory.ToArray());
        }

        // One rent to serve each chunk and one to receive it (other tests may rent from the same pool meanwhile).
        Assert.True(ChunkBufferPool.Shared.Counts.Rents - before >= 2 * chunks.Length);
    }

    [Fact]
    public async Task A_chunk_the_node_does_not_admit_is_answered_busy_and_an_admitted_one_ends_its_lease_once_written()
    {
        var chunks = new[] { RandomNumberGenerator.GetBytes(20_000), RandomNumberGenerator.GetBytes(20_000) };
        var manifest = Manifest.FromLengthsAndHashes([.. chunks.Select(c => (c.Length, Hash256.Compute(c)))]);
        var lease = new Lease();
        var server = new GatedServices(manifest, chunks) { Admit = index => index == 0 ? null : lease };
        server.ReleaseFirstRead();
        var (client, serving) = await ConnectAsync(server);
        await using var clientEnd = client;
        await using var servingEnd = serving;

        var refused = await Assert.ThrowsAsync<PeerErrorException>(() => client.RequestChunkAsync(manifest.Id, 0, CancellationToken.None).WaitAsync(Timeout));
        Assert.Equal(ErrorCode.Busy, refused.Code);
        Assert.Equal(0, server.Reads);

        using (var received = await client.RequestChunkAsync(manifest.Id, 1, CancellationToken.None).WaitAsync(Timeout))
        {
            Assert.Equal(chunks[1], received.Memory.ToArray());
        }

        await lease.Disposed.WaitAsync(Timeout);
        Assert.True(client.IsOpen);
    }

    [Fact]
    public async Task A_peer_with_more_chunks_to_store_outstanding_than_allowed_is_cut_off()
    {
        var server = new GatedServices(null, []);
        var (client, serving) = await ConnectAsync(server);
        await using var clientEnd = client;
        await using var servingEnd = serving;
        var file = FileId.FromBytes(RandomNumberGenerator.GetBytes(32));

        // Send bypasses the limit that StoreChunkAsync keeps; the stores wait on the gate, so none completes.
        for (var i = 0; i <= PeerConnection.MaxPeerStores; i++) client.Send(new StoreChunk((uint)(1000 + i), file, i, new byte[100]));

        var reason = await serving.Closed.WaitAsync(Timeout);
        Assert.Contains($"more than {PeerConnection.MaxPeerStores} chunks to store", reason);
    }

    private static async Task<(PeerConnection Client, PeerConnection Server)> ConnectAsync(IPeerServices serverServices)
    {
        var membership = NetworkMembership.CreateNew();
        var clientId = DeviceId.FromBytes(RandomNumberGenerator.GetBytes(32));
        var serverId = DeviceId.FromBytes(RandomNumberGenerator.GetBytes(32));
        var (clientStream, serverStream) = await LoopbackPair.ConnectAsync();
        var serverTask = PeerConnection.EstablishAsync(
            serverStream, isClient: false, clientId, null, LinkKind.Direct, new LocalHello(serverId, membership, "server", 0), serverServices, NullLogger.Instance, TimeProvider.System, CancellationToken.None);
        var client = await PeerConnection.EstablishAsync(
            clientStream, isClient: true, serverId, null, LinkKind.Direct, new LocalHello(clientId, membership, "client", 0), new GatedServices(null, []), NullLogger.Instance, TimeProvider.System, CancellationToken.None);
        var server = await serverTask;
        client.Start();
        server.Start();
        return (client, server);
    }

    /// <summary>Serves the chunks it is given; the read of chunk 0 waits until the test lets it finish.</summary>
    private sealed class GatedServices(Manifest? manifest, byte[][] chunks) : IPeerServices
    {
        private readonly TaskCompletionSource _firstReadStarted = new(TaskCreationOptions.RunContinuationsAsynchronously);
        private readonly TaskCompletionSource _release = new(TaskCreationOptions.RunContinuationsAsynchronously);

        private int _reads;

        public Task FirstReadStarted => _firstReadStarted.Task;

        /// <summary>Whether to serve a chunk (a lease) or answer busy (null); everything by default.</summary>
        public Func<int, IDisposable?> Admit { get; init; } = _ => new Lease();

        public int Reads => Volatile.Read(ref _reads);

        public IDisposable? AdmitChunkServe(PeerConnection connection, FileId file, int chunkIndex) => Admit(chunkIndex);

        public void ReleaseFirstRead() => _release.TrySetResult();

        public ValueTask<Manifest?> FindManifestAsync(FileId file, CancellationToken cancellationToken) =>
            ValueTask.FromResult(manifest is not null && manifest.Id == file ? manifest : null);

        public async ValueTask<StoreOutcome> StoreChunkAsync(PeerConnection connection, StoreChunk request, CancellationToken cancellationToken)
        {
            await _release.Task.WaitAsync(cancellationToken);
            return StoreOutcome.Stored;
        }

        public async ValueTask ReadChunkAsync(FileId file, int chunkIndex, Memory<byte> destination, CancellationToken cancellationToken)
        {
            Interlocked.Increment(ref _reads);
            if (chunkIndex == 0)
            {
                _firstReadStarted.TrySetResult();
                await _release.Task.WaitAsync(cancellationToken);
            }

            chunks[chunkIndex].CopyTo(destination);
        }

        public ValueTask AcquireUploadAsync(int bytes, CancellationToken cancellationToken) => ValueTask.CompletedTask;

        public void OnInventory(PeerConnection connection, Inventory inventory)
        {
        }

        public void OnHave(PeerConnection connection, Have have)
        {
        }

        public void OnRemoved(PeerConnection connection, Removed removed)
        {
        }

        public void OnRevoked(PeerConnection connection, Revoked revoked)
        {
        }

        public void OnClosed(PeerConnection connection, string reason)
        {
        }
    }

    private sealed class Lease : IDisposable
    {
        private readonly TaskCompletionSource _disposed = new(TaskCreationOptions.RunContinuationsAsynchronously);

        public Task Disposed => _disposed.Task;

        public void Dispose() => _disposed.TrySetResult();
    }
}
