using System.Collections.Concurrent;
using Microsoft.Extensions.Logging;
using Shoal.Core;
using Shoal.Net.Connections;
using Shoal.Node.Content;
using Shoal.Node.Home;
using Shoal.Protocol;
using Shoal.Storage;
using Shoal.Swarm;

namespace Shoal.Node.Transfers;

/// <summary>
/// Runs downloads: finds the manifest, feeds the swarm engine every online holder, writes to a partial file in the
/// home, and on completion moves it into place and starts serving it. Downloads survive restarts.
/// </summary>
public sealed class TransferManager : IAsyncDisposable
{
    private readonly NodeHome _home;
    private readonly DeviceId _self;
    private readonly Catalog _catalog;
    private readonly Library _library;
    private readonly Availability _availability;
    private readonly Func<DeviceId, PeerConnection?> _connectionOf;
    private readonly Action<Message> _broadcast;
    private readonly Action<DeviceId, FileId, int> _reportBadData;
    private readonly TokenBucket _downloadLimit;
    private readonly SwarmOptions _swarmOptions;
    private readonly ILogger _logger;
    private readonly TimeProvider _time;
    private readonly ConcurrentDictionary<FileId, Transfer> _transfers = new();
    private readonly ConcurrentDictionary<FileId, SemaphoreSlim> _sourcesAppeared = new();
    private volatile bool _stopping;

    public TransferManager(
        NodeHome home, DeviceId self, Catalog catalog, Library library, Availability availability,
        Func<DeviceId, PeerConnection?> connectionOf, Action<Message> broadcast, Action<DeviceId, FileId, int> reportBadData,
        TokenBucket downloadLimit, SwarmOptions swarmOptions, ILogger logger, TimeProvider time)
    {
        _home = home;
        _self = self;
        _catalog = catalog;
        _library = library;
        _availability = availability;
        _connectionOf = connectionOf;
        _broadcast = broadcast;
        _reportBadData = reportBadData;
        _downloadLimit = downloadLimit;
        _swarmOptions = swarmOptions;
        _logger = logger;
        _time = time;
    }

    public IReadOnlyCollection<Transfer> Transfers => [.. _transfers.Values];

    /// <summary>A download has no source among the connected peers: the node may look further (trackers).</summary>
    public event Action<FileId>? SourcesWanted;

    public Transfer? Get(FileId id) => _transfers.TryGetValue(id, out var transfer) ? transfer : null;

    /// <summary>Downloads that were running when the node stopped carry on; paused ones are listed, still paused.</summary>
    public void ResumeInterrupted()
    {
        foreach (var record in _catalog.ListDownloads())
        {
            if (record.Status == DownloadStatus.Active)
            {
                Start(new ShoalLink(record.Id, record.Name), record.TargetDirectory);
            }
            else if (record.Status == DownloadStatus.Paused)
            {
                var manifest = _catalog.GetManifest(record.Id);
                var verified = manifest is null ? 0 : VerifiedBytes(manifest, _catalog.LoadVerifiedChunks(record.Id, manifest.ChunkCount));
                _transfers[record.Id] = new Transfer(record.Id, record.Name, record.TargetDirectory)
                {
                    Manifest = manifest,
                    State = TransferState.Paused,
                    StoppedAtBytes = verified,
                };
            }
        }
    }

    /// <summary>Stops a running download, keeping what it has; <see cref="Resume"/> carries on from there.</summary>
    public async Task<Transfer?> PauseAsync(FileId id)
    {
        if (!_transfers.TryGetValue(id, out var transfer)) return null;
        if (!transfer.IsRunning) return transfer;
        transfer.PauseRequested = true;
        await transfer.Cancellation.CancelAsync().ConfigureAwait(false);
        await transfer.Completion.ConfigureAwait(false);
        return transfer;
    }

    /// <summary>Carries on with a paused download, or tries a failed one again.</summary>
    public Transfer? Resume(FileId id) =>
        _transfers.TryGetValue(id, out var transfer)
            ? transfer.State is TransferState.Paused or TransferState.Failed ? Start(new ShoalLink(id, transfer.Name), transfer.TargetDirectory) : transfer
            : null;

    private static long VerifiedBytes(Manifest manifest, Bitfield verified) =>
        verified.SetIndices().Sum(i => (long)manifest[i].Length);

    public Transfer Start(ShoalLink link, string targetDirectory)
    {
        targetDirectory = Path.GetFullPath(targetDirectory);
        if (_transfers.TryGetValue(link.Id, out var existing) && existing.IsRunning)
        {
            return existing;
        }

        var name = string.IsNullOrEmpty(link.Name) ? "" : SafeFileName.Sanitize(link.Name, link.Id.ShortForm);
        var transfer = new Transfer(link.Id, name, targetDirectory);
        _transfers[link.Id] = transfer;
        var already = _library.GetLocal(link.Id);
        if (already is not null && Path.GetDirectoryName(already.Path) == targetDirectory && File.Exists(already.Path))
        {
            transfer.FinalPath = already.Path;
            transfer.Name = already.Name;
            transfer.Manifest = already.Manifest;
            transfer.State = TransferState.Completed;
            return transfer;
        }

        Directory.CreateDirectory(targetDirectory);
        Remember(transfer);
        transfer.Completion = Task.Run(() => RunAsync(transfer));
        return transfer;
    }

    /// <summary>
    /// Records an accepted download at once, not when its manifest comes: one accepted while no source is online, or
    /// just before a crash, is resumed by the next start as promised. Its size is recorded with the manifest.
    /// </summary>
    private void Remember(Transfer transfer)
    {
        if (_catalog.GetDownload(transfer.Id) is not null) return;
        try
        {
            _catalog.UpsertDownload(new DownloadRecord(
                transfer.Id, transfer.Name, 0, transfer.TargetDirectory, PartialPathOf(transfer.Id), DownloadStatus.Active, _time.GetUtcNow(), null, null));
        }
        catch (Exception e) when (DiskSpace.IsFull(e))
        {
            // The run records it once it has the manifest, room permitting; only a restart before then forgets it.
            _logger.LogWarning("Download of {Id} not recorded yet: {Error}", transfer.Id.ShortForm, e.Message);
        }
    }

    public async Task<bool> CancelAsync(FileId id)
    {
        if (!_transfers.TryGetValue(id, out var transfer)) return false;
        await transfer.Cancellation.CancelAsync().ConfigureAwait(false);
        await transfer.Completion.ConfigureAwait(false);
        _transfers.TryRemove(id, out _);
        if (transfer.State is TransferState.Paused or TransferState.Failed)
        {
            // Not running, so the run's own cancellation path did not clean up: what it kept goes now.
            transfer.State = TransferState.Cancelled;
            _catalog.RemoveDownload(id);
            File.Delete(PartialPathOf(id));
        }

        return true;
    }

    /// <summary>A full disk does not end a download: once there is room it carries on from the chunks it verified.</summary>
    private async Task RunAsync(Transfer transfer)
    {
        for (var attempt = 0; await RunOnceAsync(transfer).ConfigureAwait(false) is { } full; attempt++)
        {
            try
            {
                await DiskSpace.WaitForRoomAsync(full, attempt, _time, transfer.Cancellation.Token).ConfigureAwait(false);
            }
            catch (OperationCanceledException)
            {
                Stopped(transfer);
                if (transfer.DeletePartialOnExit) File.Delete(PartialPathOf(transfer.Id));
                return;
            }

            _logger.LogInformation("Trying the download of {Name} again: {Free} free now", transfer.Name, ByteSize.Format(DiskSpace.AvailableBytes(full.Directory)));
        }
    }

    /// <summary>One attempt; returns what was full when a disk was, so the caller waits for room and tries again.</summary>
    private async Task<DiskFullException?> RunOnceAsync(Transfer transfer)
    {
        var token = transfer.Cancellation.Token;
        PartialDownload? partial = null;
        IPartialSource? heldBefore = null;
        try
        {
            var manifest = _library.FindManifest(transfer.Id) ?? _catalog.GetManifest(transfer.Id) ?? await FetchManifestAsync(transfer, token).ConfigureAwait(false);
            transfer.Manifest = manifest;
            if (transfer.Name.Length == 0) transfer.Name = _library.GetLocal(transfer.Id)?.Name ?? NameFromHolders(transfer.Id) ?? transfer.Id.ShortForm;
            var partialPath = PartialPathOf(transfer.Id);
            var createdAt = _catalog.GetDownload(transfer.Id)?.CreatedAt ?? _time.GetUtcNow();
            _catalog.UpsertDownload(new DownloadRecord(transfer.Id, transfer.Name, manifest.Size, transfer.TargetDirectory, partialPath, DownloadStatus.Active, createdAt, null, null));
            partial = await PartialDownload.OpenAsync(_catalog, manifest, partialPath, token).ConfigureAwait(false);
            transfer.Partial = partial;
            var swarm = new SwarmDownload(manifest, partial, _swarmOptions, _time, new Random(), _logger);
            swarm.ChunkVerified += index =>
            {
                _broadcast(new Have(transfer.Id, index));
                transfer.SignalProgress();
            };
            swarm.ChunkRequested += transfer.RecordRequest;
            transfer.Swarm = swarm;
            heldBefore = _library.GetPartial(transfer.Id);
            _library.AddPartial(new PartialSource(manifest, transfer.Name, partial));
            foreach (var (peer, file) in _availability.HoldersOf(transfer.Id)) AddHolder(transfer, peer, file);
            if (_library.GetLocal(transfer.Id) is not null)
            {
                swarm.AddOrUpdatePeer(new LocalCopyPeer(_self, (index, destination, ct) => _library.ReadChunkAsync(transfer.Id, index, destination, ct)), Bitfield.Full(manifest.ChunkCount));
            }
            else if (heldBefore is not null)
            {
                // Chunks this node already keeps (a put file's share in its store) are copied, not fetched.
                swarm.AddOrUpdatePeer(new LocalCopyPeer(_self, heldBefore.ReadChunkAsync), heldBefore.VerifiedSnapshot());
            }
            if (transfer.State == TransferState.DiskFull) transfer.Error = null;
            transfer.State = TransferState.Downloading;
            await swarm.RunAsync(token).ConfigureAwait(false);

            var finalPath = await partial.CompleteAsync(transfer.TargetDirectory, transfer.Name, token).ConfigureAwait(false);
            var written = new FileInfo(finalPath);
            _library.Add(new LocalFile(transfer.Id, Path.GetFileName(finalPath), manifest.Size, manifest, finalPath, written.LastWriteTimeUtc, LocalFileKind.Downloaded, _time.GetUtcNow()));
            _library.RemovePartial(transfer.Id);
            _catalog.UpsertDownload(new DownloadRecord(transfer.Id, transfer.Name, manifest.Size, transfer.TargetDirectory, partialPath, DownloadStatus.Completed, createdAt, finalPath, null));
            transfer.FinalPath = finalPath;
            transfer.State = TransferState.Completed;
            _logger.LogInformation("Downloaded {Name} ({Size} bytes) to {Path}", transfer.Name, manifest.Size, finalPath);
        }
        catch (OperationCanceledException) when (token.IsCancellationRequested)
        {
            Stopped(transfer);
        }
        catch (Exception e) when (DiskSpace.IsFull(e))
        {
            // Nothing is written to the catalog now (it may be on the full disk): the record stays active, so a
            // restart resumes it too, and the chunks it lists as verified are on disk.
            var full = e as DiskFullException ?? new DiskFullException(_home.Root, DiskSpace.CatalogRoom, e);
            transfer.Error = full.Message + "; it carries on by itself when there is room";
            transfer.State = TransferState.DiskFull;
            _logger.LogWarning("Download of {Name} paused: {Error}", transfer.Name, full.Message);
            return full;
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException or InvalidDataException)
        {
            transfer.State = TransferState.Failed;
            transfer.Error = e.Message;
            _logger.LogError("Download of {Name} failed: {Error}", transfer.Name, e.Message);
            var record = _catalog.GetDownload(transfer.Id);
            if (record is not null) _catalog.UpsertDownload(record with { Status = DownloadStatus.Failed, Error = e.Message });
        }
        finally
        {
            // Stop serving from the partial file before closing it; a completed file is served from its final path.
            _library.RemovePartial(transfer.Id);
            if (heldBefore is not null) _library.AddPartial(heldBefore);
            if (partial is not null && transfer.Manifest is { } known) transfer.StoppedAtBytes = VerifiedBytes(known, partial.Verified);
            transfer.Swarm = null;
            transfer.Partial = null;
            if (partial is not null) await partial.DisposeAsync().ConfigureAwait(false);
            if (transfer.DeletePartialOnExit) File.Delete(PartialPathOf(transfer.Id));
        }

        return null;
    }

    /// <summary>The run was cancelled: by a pause (the record says paused), by the node stopping (left as it is), or for good.</summary>
    private void Stopped(Transfer transfer)
    {
        if (transfer.PauseRequested && !_stopping)
        {
            if (_catalog.GetDownload(transfer.Id) is { } record) _catalog.UpsertDownload(record with { Status = DownloadStatus.Paused });
            transfer.State = TransferState.Paused;
        }
        else if (!_stopping)
        {
            transfer.State = TransferState.Cancelled;
            _catalog.RemoveDownload(transfer.Id);
            transfer.DeletePartialOnExit = true;
        }
    }

    private async Task<Manifest> FetchManifestAsync(Transfer transfer, CancellationToken cancellationToken)
    {
        var signal = _sourcesAppeared.GetOrAdd(transfer.Id, _ => new SemaphoreSlim(0));
        try
        {
            while (true)
            {
                foreach (var (peer, _) in _availability.HoldersOf(transfer.Id))
                {
                    if (_connectionOf(peer) is not { IsOpen: true } connection) continue;
                    try
                    {
                        var manifest = await connection.RequestManifestAsync(transfer.Id, cancellationToken).ConfigureAwait(false);
                        _catalog.SaveManifest(manifest);
                        return manifest;
                    }
                    catch (Exception e) when (e is PeerErrorException or ConnectionClosedException)
                    {
                        transfer.Error = $"{connection.RemoteName}: {e.Message}";
                    }
                }

                transfer.State = TransferState.Waiting;
                SourcesWanted?.Invoke(transfer.Id);
                await signal.WaitAsync(cancellationToken).ConfigureAwait(false);
            }
        }
        finally
        {
            _sourcesAppeared.TryRemove(transfer.Id, out _);
        }
    }

    private string PartialPathOf(FileId id) => Path.Combine(_home.PartialDirectory, id + ".part");

    private string? NameFromHolders(FileId id) =>
        _availability.HoldersOf(id).Select(h => SafeFileName.Sanitize(h.File.Name, id.ShortForm)).FirstOrDefault();

    private void AddHolder(Transfer transfer, DeviceId peer, RemoteFile file)
    {
        if (transfer.Swarm is not { } swarm || _connectionOf(peer) is not { IsOpen: true } connection) return;
        if (file.ChunkCount != transfer.Manifest?.ChunkCount) return;
        var adapter = new ConnectionPeer(connection, _downloadLimit, _reportBadData, error => transfer.Error = error);
        swarm.AddOrUpdatePeer(adapter, file.Snapshot());
    }

    /// <summary>A peer announced (part of) a file: a running download gains a source, a waiting one wakes.</summary>
    public void OnAvailable(DeviceId peer, RemoteFile file)
    {
        if (!_transfers.TryGetValue(file.Id, out var transfer)) return;
        if (transfer.Swarm is not null) AddHolder(transfer, peer, file);
        if (_sourcesAppeared.TryGetValue(file.Id, out var signal)) signal.Release();
    }

    public void OnHave(DeviceId peer, FileId file, int chunk)
    {
        if (_transfers.TryGetValue(file, out var transfer)) transfer.Swarm?.PeerHas(peer, chunk);
    }

    /// <summary>A holder stopped offering the file: usually it changed or was deleted at its source.</summary>
    public void OnWithdrawn(DeviceId peer, FileId file)
    {
        if (!_transfers.TryGetValue(file, out var transfer) || transfer.State is TransferState.Completed) return;
        transfer.Swarm?.RemovePeer(peer);
        var name = _connectionOf(peer)?.RemoteName ?? peer.ShortForm;
        transfer.Error = $"{name} no longer offers this file: it changed or was removed at its source";
    }

    public void OnPeerGone(DeviceId peer)
    {
        foreach (var transfer in _transfers.Values) transfer.Swarm?.RemovePeer(peer);
    }

    public async ValueTask DisposeAsync()
    {
        _stopping = true;
        foreach (var transfer in _transfers.Values) await transfer.Cancellation.CancelAsync().ConfigureAwait(false);
        await Task.WhenAll(_transfers.Values.Select(t => t.Completion)).ConfigureAwait(false);
    }

    private sealed class PartialSource(Manifest manifest, string name, PartialDownload partial) : IPartialSource
    {
        public Manifest Manifest => manifest;

        public string Name => name;

        public Bitfield VerifiedSnapshot() => partial.Verified;

        public bool IsVerified(int index) => partial.IsVerified(index);

        public async ValueTask ReadChunkAsync(int index, Memory<byte> destination, CancellationToken cancellationToken) =>
            await partial.ReadChunkAsync(index, destination, cancellationToken).ConfigureAwait(false);
    }
}
