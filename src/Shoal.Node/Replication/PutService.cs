using System.Collections.Concurrent;
using Microsoft.Extensions.Logging;
using Shoal.Core;
using Shoal.Net.Connections;
using Shoal.Node.Content;
using Shoal.Protocol;
using Shoal.Replication;
using Shoal.Storage;

namespace Shoal.Node.Replication;

public sealed record PutOptions
{
    public const int DefaultReplicas = 2;

    /// <summary>A node silent this long is down: the chunks it held are copied elsewhere.</summary>
    public TimeSpan DownAfter { get; init; } = TimeSpan.FromSeconds(30);

    public TimeSpan RepairInterval { get; init; } = TimeSpan.FromSeconds(2);

    /// <summary>Repair traffic is capped so that it never starves what users are waiting for.</summary>
    public long RepairBytesPerSecond { get; init; } = 64L << 20;
}

/// <summary>What the node tells the put service about its surroundings.</summary>
public sealed record PutEnvironment(
    DeviceId Self,
    Func<DeviceId, PeerConnection?> ConnectionOf,
    Func<IReadOnlyCollection<PeerConnection>> Online,
    Action<Message> Broadcast);

/// <summary>A put under way: how many of its bytes have all their copies placed (or every candidate tried).</summary>
public sealed class PutProgress(FileId id, string name, long size, DateTimeOffset started)
{
    private long _placedBytes;

    public FileId Id { get; } = id;

    public string Name { get; } = name;

    public long Size { get; } = size;

    public DateTimeOffset Started { get; } = started;

    public long PlacedBytes => Interlocked.Read(ref _placedBytes);

    /// <summary>Nodes that refused a chunk for want of room (a full store quota or a full disk), this one included.</summary>
    public IReadOnlyCollection<string> NoRoom => [.. _noRoom.Keys.Order(StringComparer.Ordinal)];

    private readonly ConcurrentDictionary<string, byte> _noRoom = new(StringComparer.Ordinal);

    internal void Placed(int bytes) => Interlocked.Add(ref _placedBytes, bytes);

    internal void HadNoRoom(string node) => _noRoom.TryAdd(node, 0);
}

/// <summary>How one put ended: <see cref="Copies"/> is the fewest nodes holding any one chunk; <see cref="NoRoom"/> who refused for want of room.</summary>
public sealed record PutResult(FileId Id, string Name, long Size, int Copies, int Replicas, int ReachableNodes, IReadOnlyCollection<string> NoRoom);

/// <summary>
/// Files stored into the network: placement of every chunk on N nodes (weighted rendezvous hashing over the
/// members' free quota, so every node computes the same answer), the store of chunks kept for others, tombstones
/// for removed files, and the repair loop that restores N copies when a node is down and drops surplus ones.
/// </summary>
public sealed class PutService : IAsyncDisposable
{
    private const int ParallelChunks = 8;

    private readonly ChunkStore _store;
    private readonly Catalog _catalog;
    private readonly Library _library;
    private readonly Availability _availability;
    private readonly PutEnvironment _environment;
    private readonly PutOptions _options;
    private readonly ILogger _logger;
    private readonly TimeProvider _time;
    private readonly TokenBucket _repairLimit;
    private readonly ConcurrentDictionary<FileId, PutFileRecord> _records = new();
    private readonly ConcurrentDictionary<FileId, Manifest> _manifests = new();
    private readonly ConcurrentDictionary<FileId, Task<Manifest?>> _fetching = new();
    private readonly ConcurrentDictionary<DeviceId, StoreStatus> _peerStores = new();
    private readonly ConcurrentDictionary<DeviceId, DateTimeOffset> _offlineSince = new();
    /// <summary>Per put file, what each peer's store keeps of it, as the peer last said.</summary>
    private readonly ConcurrentDictionary<FileId, ConcurrentDictionary<DeviceId, Bitfield>> _peerStored = new();
    private readonly ConcurrentDictionary<(FileId, int), DateTimeOffset> _overSince = new();
    private readonly ConcurrentDictionary<FileId, int> _lostReported = new();
    private readonly ConcurrentDictionary<FileId, PutProgress> _active = new();
    private readonly CancellationTokenSource _stopping = new();
    private readonly SemaphoreSlim _repairWake = new(0, 1);
    private Task _repairLoop = Task.CompletedTask;

    public PutService(ChunkStore store, Catalog catalog, Library library, Availability availability, PutEnvironment environment, PutOptions options, ILogger logger, TimeProvider time)
    {
        _store = store;
        _catalog = catalog;
        _library = library;
        _availability = availability;
        _environment = environment;
        _options = options;
        _logger = logger;
        _time = time;
        _repairLimit = new TokenBucket(options.RepairBytesPerSecond, time);
    }

    public ChunkStore Store => _store;

    public IReadOnlyCollection<PutFileRecord> Files => [.. _records.Values];

    /// <summary>Puts under way on this node, for progress bars.</summary>
    public IReadOnlyCollection<PutProgress> Active => [.. _active.Values];

    public void Start()
    {
        foreach (var record in _catalog.ListPutFiles())
        {
            _records[record.Id] = record;
            if (!record.Deleted && _catalog.GetManifest(record.Id) is { } manifest) Adopt(record, manifest);
        }

        _repairLoop = Task.Run(RepairLoopAsync);
    }

    // ---- put and rm ------------------------------------------------------------------------------------------

    /// <summary>Indexes the file, records it everywhere, and places every chunk on N nodes (as many as are reachable).</summary>
    public Task<PutResult> PutAsync(string path, int replicas, CancellationToken cancellationToken) => PutAsync(path, replicas, null, cancellationToken);

    /// <summary>As <see cref="PutAsync(string, int, CancellationToken)"/>; <paramref name="hashing"/> receives the bytes hashed so far.</summary>
    public async Task<PutResult> PutAsync(string path, int replicas, IProgress<long>? hashing, CancellationToken cancellationToken)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(replicas, 1);
        var full = Path.GetFullPath(path);
        Manifest manifest;
        await using (var stream = new FileStream(full, FileMode.Open, FileAccess.Read, FileShare.Read, 1, FileOptions.SequentialScan))
        {
            manifest = await FileIndexer.IndexAsync(stream, hashing, cancellationToken).ConfigureAwait(false);
        }

        var name = Path.GetFileName(full);
        var record = new PutFileRecord(manifest.Id, name, manifest.Size, manifest.ChunkCount, replicas, _time.GetUtcNow().UtcTicks, _environment.Self, Deleted: false);
        _catalog.SaveManifest(manifest);
        Apply(record, manifest);
        _environment.Broadcast(new PutRecords([ToMessage(record)]));

        var members = LiveMembers();
        var copies = new int[manifest.ChunkCount];
        var progress = new PutProgress(manifest.Id, name, manifest.Size, _time.GetUtcNow());
        _active[manifest.Id] = progress;
        using var file = File.OpenHandle(full, FileMode.Open, FileAccess.Read, FileShare.Read);
        try
        {
            await PlaceAsync(manifest, file, name, replicas, members, copies, progress, cancellationToken).ConfigureAwait(false);
        }
        finally
        {
            _active.TryRemove(manifest.Id, out _);
        }

        return new PutResult(manifest.Id, name, manifest.Size, copies.Length == 0 ? replicas : copies.Min(), replicas, members.Count, progress.NoRoom);
    }

    private async Task PlaceAsync(
        Manifest manifest, Microsoft.Win32.SafeHandles.SafeFileHandle file, string name, int replicas, List<Member> members, int[] copies, PutProgress progress, CancellationToken cancellationToken)
    {
        await Parallel.ForEachAsync(
            Enumerable.Range(0, manifest.ChunkCount),
            new ParallelOptions { MaxDegreeOfParallelism = ParallelChunks, CancellationToken = cancellationToken },
            async (index, token) =>
            {
                var chunk = manifest[index];
                var buffer = ChunkBufferPool.Shared.Rent(chunk.Length);
                try
                {
                    var data = buffer.AsMemory(0, chunk.Length);
                    if (await ChunkIO.ReadFullyAsync(file, data, chunk.Offset, token).ConfigureAwait(false) != chunk.Length || Hash256.Compute(data.Span) != chunk.Hash)
                    {
                        throw new IOException($"'{name}' changed while it was being stored; put it again");
                    }

                    // Every member ranked: the first N get the chunk at once; the next stand in for any that refuse.
                    var ranked = Placement.Choose(chunk.Hash, chunk.Length, members, members.Count);
                    for (var next = 0; copies[index] < replicas && next < ranked.Count;)
                    {
                        var targets = ranked.Skip(next).Take(replicas - copies[index]).ToList();
                        next += targets.Count;
                        var sent = await Task.WhenAll(targets.Select(t => SendAsync(t, manifest.Id, index, data, token, progress.HadNoRoom))).ConfigureAwait(false);
                        copies[index] += sent.Count(stored => stored);
                    }

                    progress.Placed(chunk.Length);
                }
                finally
                {
                    ChunkBufferPool.Shared.Return(buffer);
                }
            }).ConfigureAwait(false);
    }

    /// <summary>Removes a put file from the network: a tombstone goes to every node, now or when it returns.</summary>
    public bool Remove(FileId id)
    {
        if (!_records.TryGetValue(id, out var record) || record.Deleted) return false;
        var tombstone = record with { Deleted = true, UpdatedTicks = Math.Max(_time.GetUtcNow().UtcTicks, record.UpdatedTicks + 1), UpdatedBy = _environment.Self };
        Apply(tombstone, null);
        _environment.Broadcast(new PutRecords([ToMessage(tombstone)]));
        return true;
    }

    public bool IsPut(FileId id) => _records.TryGetValue(id, out var record) && !record.Deleted;

    public Manifest? Manifest(FileId id) => _manifests.GetValueOrDefault(id);

    /// <summary>Online peers whose free room is known: only those can be given chunks.</summary>
    public int KnownStores => _peerStores.Keys.Count(d => _environment.ConnectionOf(d) is { IsOpen: true });

    private Bitfield OwnStored(Manifest manifest) => new StoredFile(manifest, "", _store).VerifiedSnapshot();

    /// <summary>Per chunk, how many online nodes' stores (this one's included) keep it; null for what is not a live put file here.</summary>
    public int[]? StoredCopies(FileId id) =>
        _manifests.TryGetValue(id, out var manifest) && IsPut(id) ? Counts(manifest, Holders(id, manifest, onlineOnly: true)) : null;

    /// <summary>
    /// The least of <see cref="StoredCopies"/> (an empty file counts as fully replicated), counted on the stores'
    /// bitfields alone: cheap enough for the live feed to ask a few times a second.
    /// </summary>
    public int? FewestStoredCopies(FileId id)
    {
        if (!_manifests.TryGetValue(id, out var manifest) || !_records.TryGetValue(id, out var record) || record.Deleted) return null;
        if (manifest.ChunkCount == 0) return record.Replicas;
        var counts = new int[manifest.ChunkCount];
        for (var i = 0; i < counts.Length; i++)
        {
            if (_store.Has(manifest[i].Hash)) counts[i]++;
        }

        foreach (var (device, chunks) in _peerStored.GetValueOrDefault(id) ?? [])
        {
            if (chunks.Length != manifest.ChunkCount || _environment.ConnectionOf(device) is not { IsOpen: true }) continue;
            foreach (var i in chunks.SetIndices()) counts[i]++;
        }

        return counts.Min();
    }

    /// <summary>Per chunk, how many online nodes could send it (from a store, a download or a complete copy), this one included.</summary>
    public int[]? ReachableCopies(FileId id)
    {
        if (!IsPut(id) || !_manifests.TryGetValue(id, out var manifest)) return null;
        var senders = Senders(id, manifest);
        var counts = new int[manifest.ChunkCount];
        for (var i = 0; i < counts.Length; i++) counts[i] = senders.Count(s => s.Chunks[i]);
        return counts;
    }

    /// <summary>
    /// Who can send chunks of a file at all, this node included: from a store, a download or a complete copy, as
    /// each announces it.
    /// </summary>
    private List<(DeviceId Device, Bitfield Chunks)> Senders(FileId id, Manifest manifest)
    {
        var senders = new List<(DeviceId Device, Bitfield Chunks)>();
        if ((_library.GetLocal(id) is not null ? Bitfield.Full(manifest.ChunkCount) : _library.GetPartial(id)?.VerifiedSnapshot()) is { } own)
        {
            senders.Add((_environment.Self, own));
        }

        foreach (var connection in _environment.Online())
        {
            if (_availability.Get(connection.RemoteId, id) is { } remote) senders.Add((connection.RemoteId, remote.Snapshot()));
        }

        return senders;
    }

    private static int[] Counts(Manifest manifest, IReadOnlyList<ChunkState> states)
    {
        var counts = new int[manifest.ChunkCount];
        foreach (var state in states) counts[state.Index] = state.LiveHolders.Count;
        return counts;
    }

    // ---- peers -----------------------------------------------------------------------------------------------

    public void OnConnected(PeerConnection connection)
    {
        _offlineSince.TryRemove(connection.RemoteId, out _);
        foreach (var batch in _records.Values.Select(ToMessage).Chunk(PutRecords.MaxRecords)) connection.Send(new PutRecords(batch));
        connection.Send(OwnStatus());

        // Every live file, empty ones too: that replaces whatever the peer remembers from before.
        foreach (var (id, manifest) in _manifests)
        {
            if (IsPut(id)) connection.Send(new StoredChunks(id, OwnStored(manifest)));
        }
    }

    public void OnDisconnected(DeviceId device)
    {
        if (_offlineSince.TryAdd(device, _time.GetUtcNow())) _ = RepairWhenDownAsync();
    }

    /// <summary>The repair starts the moment a node counts as down, not at the next round after that.</summary>
    private async Task RepairWhenDownAsync()
    {
        try
        {
            await Task.Delay(_options.DownAfter, _time, _stopping.Token).ConfigureAwait(false);
            WakeRepair();
        }
        catch (OperationCanceledException)
        {
            // Stopping.
        }
    }

    private void WakeRepair()
    {
        try
        {
            if (_repairWake.CurrentCount == 0) _repairWake.Release();
        }
        catch (SemaphoreFullException)
        {
            // Already awake.
        }
    }

    public void OnStoreStatus(PeerConnection connection, StoreStatus status) => _peerStores[connection.RemoteId] = status;

    public void OnStoredChunks(PeerConnection connection, StoredChunks stored)
    {
        if (_records.TryGetValue(stored.File, out var record) && record.ChunkCount != stored.Chunks.Length) return;
        _peerStored.GetOrAdd(stored.File, _ => new ConcurrentDictionary<DeviceId, Bitfield>())[connection.RemoteId] = stored.Chunks;
    }

    public void OnPutRecords(PeerConnection connection, PutRecords message)
    {
        var news = new List<PutRecord>();
        foreach (var incoming in message.Records)
        {
            var record = new PutFileRecord(incoming.File, incoming.Name, incoming.Size, incoming.ChunkCount, incoming.Replicas, incoming.UpdatedTicks, incoming.UpdatedBy, incoming.Deleted);
            if (!SafeFileName.IsValid(record.Name, out _)) continue;
            if (!Apply(record, null))
            {
                // Not news; but if fetching its manifest failed when it was (the link broke), ask again: without it
                // this node can neither count the file's copies, nor store or repair them.
                if (IsPut(record.Id) && !_manifests.ContainsKey(record.Id)) _ = EnsureManifestAsync(record.Id, connection);
                continue;
            }

            news.Add(incoming);
            if (!record.Deleted) _ = EnsureManifestAsync(record.Id, connection);
        }

        // Passed on once (a record that is not news stops here), so a node that missed it learns it from anyone.
        if (news.Count == 0) return;
        foreach (var other in _environment.Online().Where(c => c != connection)) other.Send(new PutRecords(news));
    }

    public async ValueTask<StoreOutcome> StoreChunkAsync(PeerConnection connection, StoreChunk request, CancellationToken cancellationToken)
    {
        if (!_records.TryGetValue(request.File, out var record)) return StoreOutcome.UnknownFile;
        if (record.Deleted) return StoreOutcome.Deleted;
        var manifest = await EnsureManifestAsync(request.File, connection).ConfigureAwait(false);
        if (manifest is null || request.ChunkIndex >= manifest.ChunkCount) return StoreOutcome.UnknownFile;
        var outcome = await KeepAsync(record, manifest, request.ChunkIndex, request.Data, cancellationToken).ConfigureAwait(false);
        return outcome;
    }

    // ---- state -----------------------------------------------------------------------------------------------

    /// <summary>Stores a record if it is news; a tombstone deletes what this node holds of the file.</summary>
    private bool Apply(PutFileRecord record, Manifest? manifest)
    {
        if (!_catalog.ApplyPutFile(record)) return false;
        _records[record.Id] = record;
        if (record.Deleted)
        {
            if (_manifests.TryRemove(record.Id, out var old)) DropAll(old);
            _library.RemovePartial(record.Id);
        }
        else if (manifest is not null)
        {
            Adopt(record, manifest);
        }

        return true;
    }

    private void Adopt(PutFileRecord record, Manifest manifest)
    {
        _manifests[record.Id] = manifest;
        _library.AddPartial(new StoredFile(manifest, record.Name, _store));
    }

    private void DropAll(Manifest manifest)
    {
        for (var i = 0; i < manifest.ChunkCount; i++)
        {
            if (!UsedElsewhere(manifest.Id, manifest[i].Hash)) _store.Delete(manifest[i].Hash);
        }

        _environment.Broadcast(OwnStatus());
    }

    /// <summary>The same bytes may be a chunk of another live put file: then the copy stays.</summary>
    private bool UsedElsewhere(FileId file, Hash256 hash) =>
        _manifests.Any(m => m.Key != file && !_records[m.Key].Deleted && Enumerable.Range(0, m.Value.ChunkCount).Any(i => m.Value[i].Hash == hash));

    private Task<Manifest?> EnsureManifestAsync(FileId id, PeerConnection from)
    {
        if (_manifests.TryGetValue(id, out var known)) return Task.FromResult<Manifest?>(known);
        return _fetching.GetOrAdd(id, _ => FetchManifestAsync(id, from));
    }

    private async Task<Manifest?> FetchManifestAsync(FileId id, PeerConnection from)
    {
        try
        {
            var manifest = await from.RequestManifestAsync(id, _stopping.Token).ConfigureAwait(false);
            _catalog.SaveManifest(manifest);
            if (_records.TryGetValue(id, out var record) && !record.Deleted) Adopt(record, manifest);
            return manifest;
        }
        catch (Exception e) when (e is PeerErrorException or ConnectionClosedException or OperationCanceledException or InvalidDataException)
        {
            _logger.LogDebug("Could not fetch the manifest of {File} from {Peer}: {Error}", id.ShortForm, from.RemoteName, e.Message);
            return null;
        }
        finally
        {
            _fetching.TryRemove(id, out _);
        }
    }

    private async ValueTask<StoreOutcome> KeepAsync(PutFileRecord record, Manifest manifest, int index, ReadOnlyMemory<byte> data, CancellationToken cancellationToken)
    {
        ChunkStoreResult result;
        try
        {
            result = await _store.PutAsync(manifest[index].Hash, data, cancellationToken).ConfigureAwait(false);
        }
        catch (DiskFullException e)
        {
            // Refused like a full quota, so the sender places the copy elsewhere and repair offers it again later.
            _logger.LogWarning("Could not keep chunk {Index} of {Name}: {Error}", index, record.Name, e.Message);
            return StoreOutcome.Full;
        }

        switch (result)
        {
            case ChunkStoreResult.Stored:
                if (!_manifests.ContainsKey(record.Id)) Adopt(record, manifest);
                _environment.Broadcast(new Have(record.Id, index));
                AnnounceStored(record.Id, manifest);
                return StoreOutcome.Stored;
            case ChunkStoreResult.AlreadyHeld:
                return StoreOutcome.Stored;
            case ChunkStoreResult.Full:
                return StoreOutcome.Full;
            default:
                return StoreOutcome.HashMismatch;
        }
    }

    /// <param name="noRoom">Told the name of a node that refused for want of room.</param>
    private async Task<bool> SendAsync(DeviceId target, FileId file, int index, ReadOnlyMemory<byte> data, CancellationToken cancellationToken, Action<string>? noRoom = null)
    {
        if (target == _environment.Self)
        {
            var record = _records[file];
            if (!_manifests.TryGetValue(file, out var manifest)) return false;
            var kept = await KeepAsync(record, manifest, index, data, cancellationToken).ConfigureAwait(false);
            if (kept == StoreOutcome.Full) noRoom?.Invoke("this node");
            return kept == StoreOutcome.Stored;
        }

        if (_environment.ConnectionOf(target) is not { IsOpen: true } connection) return false;
        try
        {
            var outcome = await connection.StoreChunkAsync(file, index, data, cancellationToken).ConfigureAwait(false);
            if (outcome != StoreOutcome.Stored) _logger.LogDebug("{Peer} did not keep chunk {Index} of {File}: {Outcome}", connection.RemoteName, index, file.ShortForm, outcome);
            if (outcome == StoreOutcome.Full) noRoom?.Invoke(connection.RemoteName);
            return outcome == StoreOutcome.Stored;
        }
        catch (Exception e) when (e is PeerErrorException or ConnectionClosedException)
        {
            return false;
        }
    }

    private StoreStatus OwnStatus() => new(_store.QuotaBytes, _store.UsedBytes);

    /// <summary>What the store keeps changed: peers count copies from this (and placement reads the free room).</summary>
    private void AnnounceStored(FileId id, Manifest manifest)
    {
        _environment.Broadcast(new StoredChunks(id, OwnStored(manifest)));
        _environment.Broadcast(OwnStatus());
    }

    private static PutRecord ToMessage(PutFileRecord r) => new(r.Id, r.Name, r.Size, r.ChunkCount, r.Replicas, r.UpdatedTicks, r.UpdatedBy, r.Deleted);

    /// <summary>This node and every online peer that said how much room its store has.</summary>
    private List<Member> LiveMembers()
    {
        var members = new List<Member> { new(_environment.Self, _store.FreeBytes) };
        foreach (var connection in _environment.Online())
        {
            if (_peerStores.TryGetValue(connection.RemoteId, out var status)) members.Add(new Member(connection.RemoteId, Math.Max(0, status.QuotaBytes - status.UsedBytes)));
        }

        return members;
    }

    // ---- repair ----------------------------------------------------------------------------------------------

    /// <summary>
    /// Which stores keep each chunk: this node's, online peers' (as they announce them), and unless
    /// <paramref name="onlineOnly"/>, those of peers gone quiet less than <see cref="PutOptions.DownAfter"/> ago (not
    /// down yet). Downloaded copies do not count: their owners may move or delete them at any time.
    /// </summary>
    public IReadOnlyList<ChunkState> Holders(FileId file, Manifest manifest, bool onlineOnly = false)
    {
        var now = _time.GetUtcNow();
        var views = new List<(DeviceId Device, Bitfield Chunks)> { (_environment.Self, OwnStored(manifest)) };
        foreach (var (device, chunks) in _peerStored.GetValueOrDefault(file) ?? [])
        {
            if (chunks.Length != manifest.ChunkCount) continue;
            var live = _environment.ConnectionOf(device) is { IsOpen: true }
                || (!onlineOnly && _offlineSince.TryGetValue(device, out var since) && now - since < _options.DownAfter);
            if (live) views.Add((device, chunks));
        }

        // Whoever can send a chunk at all: the last resort when no store keeps it.
        var senders = onlineOnly ? [] : Senders(file, manifest);

        return [.. Enumerable.Range(0, manifest.ChunkCount).Select(i => new ChunkState(
            i, manifest[i].Hash, manifest[i].Length, views.Where(v => v.Chunks[i]).Select(v => v.Device).ToHashSet(), senders.Where(s => s.Chunks[i]).Select(s => s.Device).ToHashSet()))];
    }

    private async Task RepairLoopAsync()
    {
        var token = _stopping.Token;
        Task? wake = null;
        try
        {
            while (true)
            {
                // A round every interval, or at once when a node has just gone down. The wait for a wake-up is kept
                // across rounds, so a wake-up that comes while a round runs is not lost.
                wake ??= _repairWake.WaitAsync(token);
                var tick = Task.Delay(_options.RepairInterval, _time, token);
                var woke = await Task.WhenAny(wake, tick).ConfigureAwait(false);
                await woke.ConfigureAwait(false);
                if (woke == wake) wake = null;
                foreach (var (id, manifest) in _manifests)
                {
                    try
                    {
                        await RepairAsync(_records[id], manifest, _stopping.Token).ConfigureAwait(false);
                    }
                    catch (Exception e) when (e is IOException or PeerErrorException or ConnectionClosedException)
                    {
                        _logger.LogWarning("Repairing {Name} failed: {Error}", _records[id].Name, e.Message);
                    }
                }
            }
        }
        catch (OperationCanceledException)
        {
            // Stopping.
        }
    }

    private async Task RepairAsync(PutFileRecord record, Manifest manifest, CancellationToken cancellationToken)
    {
        if (record.Deleted) return;
        var now = _time.GetUtcNow();
        var states = Holders(record.Id, manifest);
        var longEnough = new HashSet<int>();
        foreach (var state in states)
        {
            if (state.LiveHolders.Count <= record.Replicas)
            {
                _overSince.TryRemove((record.Id, state.Index), out _);
                continue;
            }

            // Surplus goes only once it has lasted: a node that flaps must not make copies come and go.
            var since = _overSince.GetOrAdd((record.Id, state.Index), now);
            if (now - since >= _options.DownAfter) longEnough.Add(state.Index);
        }

        var plan = RepairPlanner.Plan(_environment.Self, states, LiveMembers(), record.Replicas, longEnough);
        if (_lostReported.GetValueOrDefault(record.Id) != plan.Lost.Count)
        {
            _lostReported[record.Id] = plan.Lost.Count;
            if (plan.Lost.Count > 0) _logger.LogWarning("{Name}: {Lost} of {Total} chunks are on no live node; it cannot be read until one comes back", record.Name, plan.Lost.Count, manifest.ChunkCount);
        }
        foreach (var copy in plan.Copies)
        {
            var chunk = manifest[copy.Index];
            await _repairLimit.WaitAsync(chunk.Length, cancellationToken).ConfigureAwait(false);
            var buffer = ChunkBufferPool.Shared.Rent(chunk.Length);
            try
            {
                var data = buffer.AsMemory(0, chunk.Length);
                if (!await TryReadOwnAsync(record, manifest, copy.Index, data, cancellationToken).ConfigureAwait(false)) continue;

                if (await SendAsync(copy.Target, record.Id, copy.Index, data, cancellationToken).ConfigureAwait(false))
                {
                    _logger.LogInformation("Repaired chunk {Index} of {Name}: a copy on {Target}", copy.Index, record.Name, copy.Target.ShortForm);
                }
            }
            finally
            {
                ChunkBufferPool.Shared.Return(buffer);
            }
        }

        var dropped = 0;
        foreach (var index in plan.Drops)
        {
            // Bytes that are also a chunk of another live put file stay: that file still counts on them.
            if (!UsedElsewhere(record.Id, manifest[index].Hash) && _store.Delete(manifest[index].Hash)) dropped++;
            _overSince.TryRemove((record.Id, index), out _);
        }

        if (dropped == 0) return;
        _logger.LogInformation("Dropped {Count} surplus chunks of {Name}", dropped, record.Name);
        _library.AddPartial(new StoredFile(manifest, record.Name, _store));
        AnnounceStored(record.Id, manifest);
    }

    /// <summary>Reads a chunk from wherever this node has it; a damaged store copy is dropped so another holder repairs.</summary>
    private async Task<bool> TryReadOwnAsync(PutFileRecord record, Manifest manifest, int index, Memory<byte> data, CancellationToken cancellationToken)
    {
        var chunk = manifest[index];
        try
        {
            await _library.ReadChunkAsync(record.Id, index, data, cancellationToken).ConfigureAwait(false);
            if (Hash256.Compute(data.Span) == chunk.Hash) return true;
        }
        catch (Exception e) when (e is ChunkServeException or IOException)
        {
            _logger.LogDebug("Chunk {Index} of {Name} could not be read here: {Error}", index, record.Name, e.Message);
        }

        if (_store.Delete(chunk.Hash))
        {
            _library.AddPartial(new StoredFile(manifest, record.Name, _store));
            AnnounceStored(record.Id, manifest);
        }

        return false;
    }

    public async ValueTask DisposeAsync()
    {
        await _stopping.CancelAsync().ConfigureAwait(false);
        await _repairLoop.ConfigureAwait(false);
        _stopping.Dispose();
    }
}
