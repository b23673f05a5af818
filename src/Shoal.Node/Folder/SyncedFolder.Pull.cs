using System.Collections.Concurrent;
using System.Threading.Channels;
using Microsoft.Extensions.Logging;
using Shoal.Core;
using Shoal.Core.Folder;
using Shoal.Net.Connections;
using Shoal.Node.Transfers;
using Shoal.Storage;
using Shoal.Swarm;
using Shoal.Sync;
using Shoal.Sync.Scanning;

namespace Shoal.Node.Folder;

/// <summary>Pulling: bringing the folder on disk up to what peers' newer records say, one round of paths at a time.</summary>
public sealed partial class SyncedFolder
{
    /// <summary>A whole-file fetch from peers goes through the swarm engine above this many chunks.</summary>
    private const int DirectFetchMaxChunks = 2;
    private const int MaxCommitBatch = 4096;

    private readonly Channel<PendingCommit> _commits = Channel.CreateBounded<PendingCommit>(MaxCommitBatch);
    private readonly ConcurrentDictionary<string, CancellationTokenSource> _running = new(StringComparer.Ordinal);
    private readonly GroupFlush _flush = new();

    /// <param name="Renamed">The directory where a rename put this entry in place; flushed before the entry is recorded.</param>
    private sealed record PendingCommit(LocalEntry Entry, FolderEvent? Event, string? Renamed, TaskCompletionSource Done);

    private sealed class PullItem(string path, DeviceId source, FileRecord remote)
    {
        public string Path { get; } = path;

        public DeviceId Source { get; } = source;

        public FileRecord Remote { get; } = remote;

        /// <summary>A local file with the same content that this round deletes: moved into place instead of fetched.</summary>
        public string? RenameFrom { get; set; }

        /// <summary>This deletion's file was moved to another path by a rename in the same round.</summary>
        public bool MovedAway { get; set; }
    }

    private sealed class NoSourceException(string message) : Exception(message);

    private sealed class RefusedPathException(string message) : Exception(message);

    private void Need(string path)
    {
        lock (_needGate)
        {
            _waiting.Remove(path);
            _needed.Add(path);
        }

        SignalPuller();
    }

    private void SignalPuller()
    {
        try
        {
            if (_needSignal.CurrentCount == 0) _needSignal.Release();
        }
        catch (SemaphoreFullException)
        {
            // Already signalled.
        }
    }

    /// <summary>Paths that had no online source get another try (a peer connected, or time passed).</summary>
    private void RetryWaiting()
    {
        lock (_needGate)
        {
            foreach (var path in _waiting.Keys) _needed.Add(path);
            _waiting.Clear();
        }

        SignalPuller();
    }

    private void Wait(string path, string reason)
    {
        lock (_needGate) _waiting[path] = reason;
    }

    private async Task PullLoopAsync()
    {
        var token = _stopping.Token;
        var committer = Task.Run(() => CommitLoopAsync(token), CancellationToken.None);
        try
        {
            while (true)
            {
                await _needSignal.WaitAsync(token).ConfigureAwait(false);
                string[] paths;
                lock (_needGate)
                {
                    paths = [.. _needed];
                    _needed.Clear();
                }

                if (paths.Length == 0) continue;
                try
                {
                    await PullRoundAsync(paths, token).ConfigureAwait(false);
                }
                catch (Exception e) when (e is not OperationCanceledException)
                {
                    // One bad round must not stop the folder: its paths are retried later.
                    _logger.LogError(e, "Syncing {Count} paths failed", paths.Length);
                    foreach (var path in paths) Wait(path, e.Message);
                }
            }
        }
        catch (OperationCanceledException)
        {
            // Stopping.
        }

        _commits.Writer.TryComplete();
        await committer.ConfigureAwait(false);
    }

    /// <summary>Many pulls finish at once; their index entries go to the database together, in one transaction.</summary>
    private async Task CommitLoopAsync(CancellationToken cancellationToken)
    {
        var reader = _commits.Reader;
        var batch = new List<PendingCommit>();
        try
        {
            while (await reader.WaitToReadAsync(CancellationToken.None).ConfigureAwait(false))
            {
                while (batch.Count < MaxCommitBatch && reader.TryRead(out var commit)) batch.Add(commit);
                try
                {
                    // One flush per directory for the whole batch: many small files landing in one directory share it.
                    foreach (var directory in batch.Select(c => c.Renamed).OfType<string>().Distinct(StringComparer.Ordinal)) DurableFileSystem.FlushDirectory(directory);
                    Commit([.. batch.Select(c => c.Entry)], [.. batch.Select(c => c.Event).OfType<FolderEvent>()]);
                    foreach (var commit in batch) commit.Done.TrySetResult();
                }
                catch (Exception e)
                {
                    foreach (var commit in batch) commit.Done.TrySetException(e);
                }

                batch.Clear();
            }
        }
        finally
        {
            while (reader.TryRead(out var commit)) commit.Done.TrySetCanceled(cancellationToken);
        }
    }

    private async Task CommitAsync(LocalEntry entry, FolderEvent? folderEvent, CancellationToken cancellationToken, string? renamedIn = null) =>
        await await EnqueueCommitAsync(entry, folderEvent, renamedIn, cancellationToken).ConfigureAwait(false);

    /// <summary>Queues an entry for the next batch; the returned task completes when the batch is stored.</summary>
    private async Task<Task> EnqueueCommitAsync(LocalEntry entry, FolderEvent? folderEvent, string? renamedIn, CancellationToken cancellationToken)
    {
        var done = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        await _commits.Writer.WriteAsync(new PendingCommit(entry, folderEvent, renamedIn, done), cancellationToken).ConfigureAwait(false);
        return done.Task;
    }

    /// <summary>
    /// Directories first (parents before children), then files in parallel, then deletions (files, then directories
    /// deepest first), so that every step finds what it needs in place.
    /// </summary>
    private async Task PullRoundAsync(IReadOnlyCollection<string> paths, CancellationToken cancellationToken)
    {
        var items = new List<PullItem>();
        var adopted = new List<LocalEntry>();
        foreach (var path in paths)
        {
            var local = _local.GetValueOrDefault(path);
            if (BestRemote(path, local?.Record) is not { } best) continue;
            if (_ignore.IsIgnored(path, best.Record.Kind == EntryKind.Directory)) continue;
            var decision = Reconciler.Decide(local?.Record, best.Record, best.LocalSuperseded);
            switch (decision.Action)
            {
                case SyncAction.None:
                    break;
                case SyncAction.AdoptVersion when local is not null:
                    adopted.Add(local with { Record = local.Record with { Version = decision.ResultVersion } });
                    break;
                default:
                    items.Add(new PullItem(path, best.Device, best.Record));
                    break;
            }
        }

        if (adopted.Count > 0) Commit(adopted, []);
        if (items.Count == 0) return;

        var deletions = items.Where(i => i.Remote.Deleted).ToList();
        var renameSources = deletions
            .Where(i => _local.GetValueOrDefault(i.Path) is { Record: { Deleted: false, IsFile: true } })
            .GroupBy(i => _local[i.Path].Record.Content)
            .ToDictionary(g => g.Key, g => new Queue<PullItem>(g));
        var files = items.Where(i => !i.Remote.Deleted && i.Remote.IsFile).ToList();
        foreach (var file in files)
        {
            if (renameSources.TryGetValue(file.Remote.Content, out var sources) && sources.TryDequeue(out var source))
            {
                file.RenameFrom = source.Path;
                source.MovedAway = true;
            }
        }

        foreach (var directory in items.Where(i => !i.Remote.Deleted && !i.Remote.IsFile).OrderBy(i => Depth(i.Path)))
        {
            await ApplyAsync(directory, cancellationToken).ConfigureAwait(false);
        }

        var others = await PullSmallFilesAsync(files, cancellationToken).ConfigureAwait(false);
        await Parallel.ForEachAsync(
            others,
            new ParallelOptions { MaxDegreeOfParallelism = _options.ParallelPulls, CancellationToken = cancellationToken },
            ApplyAsync).ConfigureAwait(false);

        foreach (var deletion in deletions.OrderBy(i => _local.GetValueOrDefault(i.Path)?.Record.Kind == EntryKind.Directory).ThenByDescending(i => Depth(i.Path)))
        {
            await ApplyAsync(deletion, cancellationToken).ConfigureAwait(false);
        }
    }

    private static int Depth(string path) => path.Count(c => c == '/');

    /// <summary>
    /// The record to follow among what all peers hold for a path (<see cref="Reconciler.Winner"/>), and whether one
    /// of them supersedes <paramref name="local"/>.
    /// </summary>
    private (DeviceId Device, FileRecord Record, bool LocalSuperseded)? BestRemote(string path, FileRecord? local)
    {
        var remote = _catalog.ListRemoteEntries(path);
        var winner = Reconciler.Winner([.. remote.Select(r => r.Record)]);
        if (winner < 0) return null;
        var superseded = local is not null && remote.Any(r => r.Record.Version.Compare(local.Version) == Causality.Newer);
        return (remote[winner].Device, remote[winner].Record, superseded);
    }

    private async ValueTask ApplyAsync(PullItem item, CancellationToken cancellationToken)
    {
        var path = item.Path;
        if (!_busy.TryAdd(path, 0))
        {
            NeedWhenFree(path);
            return;
        }

        Task? committing = null;
        using var superseded = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        _running[path] = superseded;
        try
        {
            cancellationToken = superseded.Token;
            var full = FolderPath.ToFullPath(Root, path);
            EnsureInsideFolder(path);
            var local = _local.GetValueOrDefault(path);
            var decision = Reconciler.Decide(local?.Record, item.Remote);
            if (decision.Action == SyncAction.None) return;
            if (item.MovedAway)
            {
                await CommitAsync(Tombstone(item, local, decision), Event(path, item.Remote.ModifiedBy, FolderEventKind.Renamed, $"moved by {_environment.NameOf(item.Source)}"), cancellationToken).ConfigureAwait(false);
                return;
            }

            var status = FileStatus.Get(full);
            if (!item.Remote.Deleted && item.Remote.Kind == EntryKind.Directory && status is { Kind: FileStatusKind.Directory } && (local is null || local.Record.Deleted || local.Record.Kind == EntryKind.Directory))
            {
                // A directory already there (made for a file inside it) is the same content: nothing to lose.
                await CommitAsync(new LocalEntry(item.Remote with { Version = decision.ResultVersion, Sequence = 0 }, status.Value.Inode), null, cancellationToken).ConfigureAwait(false);
                return;
            }

            if (!Matches(local, status))
            {
                // Changed here since the last scan: record that first; the next round decides with it (a conflict).
                _rescanAfterBusy.TryAdd(path, 0);
                return;
            }

            if (decision.Action == SyncAction.AdoptVersion && local is not null)
            {
                await CommitAsync(local with { Record = local.Record with { Version = decision.ResultVersion } }, null, cancellationToken).ConfigureAwait(false);
            }
            else if (item.Remote.Deleted)
            {
                await DeleteAsync(item, local, decision, full, cancellationToken).ConfigureAwait(false);
            }
            else if (item.Remote.Kind == EntryKind.Directory)
            {
                Directory.CreateDirectory(full);
                SetPermissions(full, item.Remote.Permissions);
                var created = FileStatus.Get(full) ?? throw new IOException($"{path} vanished right after it was created");
                await CommitAsync(new LocalEntry(item.Remote with { Version = decision.ResultVersion, Sequence = 0, Permissions = created.Permissions }, created.Inode), Event(path, item.Remote.ModifiedBy, FolderEventKind.Added, $"from {_environment.NameOf(item.Source)}"), cancellationToken).ConfigureAwait(false);
            }
            else
            {
                committing = await PullFileAsync(item, local, decision, full, cancellationToken).ConfigureAwait(false);
            }
        }
        catch (NoSourceException e)
        {
            Wait(path, $"{path}: {e.Message}");
        }
        catch (OperationCanceledException) when (superseded.IsCancellationRequested && !_stopping.IsCancellationRequested)
        {
            // A newer record for this path arrived while it was being fetched: decide again with it.
            Need(path);
        }
        catch (Exception e) when (e is RefusedPathException or IOException or UnauthorizedAccessException or InvalidDataException or ArgumentException)
        {
            NotSynced(item, e);
        }
        finally
        {
            _running.TryRemove(path, out _);
            if (committing is null) Release(path);
            else _ = ReleaseWhenCommittedAsync(path, committing);
        }
    }

    /// <summary>A path refused for good is logged and shown; one that failed here waits and is tried again like any other.</summary>
    private void NotSynced(PullItem item, Exception e)
    {
        var path = item.Path;
        if (e is RefusedPathException)
        {
            _logger.LogWarning("Refused {Path} from {Peer}: {Error}", path, _environment.NameOf(item.Source), e.Message);
            _catalog.AddFolderEvents([Event(path, item.Source, FolderEventKind.Refused, e.Message)]);
            return;
        }

        // A full disk is said as such, with the room the file needs.
        var why = e is DiskFullException || !DiskSpace.IsFull(e) ? e.Message : new DiskFullException(Root, item.Remote.Size, e).Message;
        _logger.LogWarning("Could not sync {Path}: {Error}", path, why);
        Wait(path, $"{path}: {why}");
    }

    /// <summary>
    /// A pulled file is in place before its index entry is stored; the path stays busy until then, so nothing decides
    /// about it from the old entry, while the pull itself moves on to the next file.
    /// </summary>
    private async Task ReleaseWhenCommittedAsync(string path, Task committing)
    {
        try
        {
            await committing.ConfigureAwait(false);
        }
        catch (OperationCanceledException)
        {
            // Stopping before the batch was stored: the scan on the next start records the file as it is on disk.
        }
        catch (Exception e)
        {
            // Not recorded: a scan finds the file and records it as it is.
            _logger.LogWarning("Could not record {Path}: {Error}", path, e.Message);
            _rescanAfterBusy.TryAdd(path, 0);
        }
        finally
        {
            Release(path);
        }
    }

    private void Release(string path)
    {
        _placed.TryRemove(path, out _);
        _busy.TryRemove(path, out _);
        if (_rescanAfterBusy.TryRemove(path, out _)) _ = RescanThenNeedAsync(path);
        if (_needWhenFree.TryRemove(path, out _)) Need(path);
    }

    /// <summary>A path still being pulled or recorded is decided again once it is free, not in a loop of rounds meanwhile.</summary>
    private void NeedWhenFree(string path)
    {
        _needWhenFree.TryAdd(path, 0);
        if (!_busy.ContainsKey(path) && _needWhenFree.TryRemove(path, out _)) Need(path);
    }

    /// <summary>
    /// The path is decided again only once the index shows what is on disk. If the scan could not record it (the
    /// folder's disk is gone, the file cannot be read), deciding again would find the same mismatch and come straight
    /// back here: the path waits for the retry timer instead of spinning.
    /// </summary>
    private async Task RescanThenNeedAsync(string path)
    {
        if (await ScanInBackgroundAsync([path]).ConfigureAwait(false) && Matches(_local.GetValueOrDefault(path), StatusOrNull(path)))
        {
            Need(path);
            return;
        }

        Wait(path, $"{path}: {_error ?? "changed here, but could not be read; tried again later"}");
    }

    private FileStatus? StatusOrNull(string path)
    {
        try
        {
            return FileStatus.Get(FolderPath.ToFullPath(Root, path));
        }
        catch (IOException)
        {
            return null;
        }
    }

    /// <summary>True if the disk still shows what this node's index says about the path.</summary>
    private static bool Matches(LocalEntry? local, FileStatus? status)
    {
        if (local is null || local.Record.Deleted) return status is null;
        if (status is not { } s) return false;
        if (local.Record.Kind == EntryKind.Directory) return s.Kind == FileStatusKind.Directory;
        return s.IsFileOf(local);
    }

    /// <summary>
    /// Every parent of the path must be a real directory inside the folder (or not exist yet): a symlink planted in
    /// the folder must not carry a write elsewhere.
    /// </summary>
    private void EnsureInsideFolder(string path)
    {
        var parent = FolderPath.Parent(path);
        var prefix = "";
        foreach (var component in parent.Length == 0 ? [] : parent.Split('/'))
        {
            prefix = prefix.Length == 0 ? component : prefix + "/" + component;
            var status = FileStatus.Get(FolderPath.ToFullPath(Root, prefix));
            if (status is null) return;
            if (status.Value.Kind != FileStatusKind.Directory) throw new RefusedPathException($"'{prefix}' is not a directory here (a file or a symbolic link); nothing is written through it");
        }
    }

    private LocalEntry Tombstone(PullItem item, LocalEntry? local, SyncDecision decision) =>
        new(item.Remote with { Version = decision.ResultVersion, Sequence = 0, Permissions = local?.Record.Permissions ?? item.Remote.Permissions }, 0);

    /// <summary>
    /// A pull that was superseded (or whose file is now deleted) leaves a temp file of content nobody will want again;
    /// it goes when the path's next pull or deletion starts. A temp file of the content still wanted stays: a later
    /// pull resumes from it.
    /// </summary>
    private void ForgetTempFile(string path, string? keep)
    {
        if (!_tempFiles.TryGetValue(path, out var previous) || previous == keep) return;
        try
        {
            File.Delete(previous);
            _tempFiles.TryRemove(new KeyValuePair<string, string>(path, previous));
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            _logger.LogDebug("Could not remove {Temp}: {Error}", previous, e.Message);
        }
    }

    private async Task DeleteAsync(PullItem item, LocalEntry? local, SyncDecision decision, string full, CancellationToken cancellationToken)
    {
        ForgetTempFile(item.Path, keep: null);
        var by = $"by {_environment.NameOf(item.Source)}";
        if (local is { Record.Deleted: false, Record.Kind: EntryKind.Directory })
        {
            if (Directory.EnumerateFileSystemEntries(full).Any())
            {
                // Something here is not (yet) known to the peer that deleted the directory: keep it, and say so.
                var kept = local.Record with { Version = local.Record.Version.Merge(item.Remote.Version).Increment(_selfKey, (ulong)_time.GetUtcNow().ToUnixTimeSeconds()), Sequence = 0 };
                await CommitAsync(local with { Record = kept }, Event(item.Path, _environment.Self, FolderEventKind.Modified, $"kept: deleted {by} but it still holds files"), cancellationToken).ConfigureAwait(false);
                return;
            }

            Directory.Delete(full);
        }
        else if (local is { Record.Deleted: false })
        {
            _trash.Move(full, item.Path);
        }

        var folderEvent = local is { Record.Deleted: false } ? Event(item.Path, item.Remote.ModifiedBy, FolderEventKind.Deleted, by) : null;
        await CommitAsync(Tombstone(item, local, decision), folderEvent, cancellationToken, Path.GetDirectoryName(full)).ConfigureAwait(false);
    }

    /// <summary>Brings one file into place; returns the storing of its index entry, still under way (or null).</summary>
    private async Task<Task?> PullFileAsync(PullItem item, LocalEntry? local, SyncDecision decision, string full, CancellationToken cancellationToken)
    {
        var remote = item.Remote;
        var manifest = remote.Manifest ?? _content.FindManifest(remote.Content) ?? await FetchManifestAsync(item, cancellationToken).ConfigureAwait(false);
        var parent = Path.GetDirectoryName(full)!;
        Directory.CreateDirectory(parent);
        var temp = FolderPath.ToTempFullPath(Root, item.Path, remote.Content);
        ForgetTempFile(item.Path, keep: temp);
        _tempFiles[item.Path] = temp;
        var moved = item.RenameFrom is { } source && TryMoveInto(source, temp);
        if (moved)
        {
            SetPermissions(temp, remote.Permissions);
            File.SetLastWriteTimeUtc(temp, remote.ModifiedUtc);
        }
        else
        {
            using var sink = await TempFileSink.OpenAsync(temp, manifest, cancellationToken).ConfigureAwait(false);
            await CopyLocalChunksAsync(sink, manifest, cancellationToken).ConfigureAwait(false);
            if (!sink.Verified.IsComplete) await FetchMissingAsync(item, sink, manifest, cancellationToken).ConfigureAwait(false);
            await sink.CompleteAsync((UnixFileMode)(remote.Permissions & 0x1FF), remote.ModifiedUtc, _flush).ConfigureAwait(false);
        }

        // The last look before replacing anything: an edit made here while the content arrived wins its own record.
        local = _local.GetValueOrDefault(item.Path);
        if (!Matches(local, FileStatus.Get(full)))
        {
            _rescanAfterBusy.TryAdd(item.Path, 0);
            return null;
        }

        string? conflictCopy = null;
        var by = _environment.NameOf(item.Source);
        if (local is { Record: { Deleted: false, IsFile: true } } && decision.Action == SyncAction.ApplyKeepingLocalAsConflict)
        {
            conflictCopy = ConflictNames.For(item.Path, local.Record.ModifiedAt, local.Record.ModifiedBy);
            if (!DurableFileSystem.TryRenameWithinFileSystem(full, FolderPath.ToFullPath(Root, conflictCopy))) throw new IOException($"could not keep {item.Path} as {conflictCopy}");
        }
        else if (local is { Record: { Deleted: false, IsFile: true } })
        {
            _trash.Keep(full, item.Path);
        }

        // A rename keeps the inode, size and time: what the watcher is about to report is known before it happens.
        var written = FileStatus.Get(temp) ?? throw new IOException($"the new {item.Path} vanished before it was moved into place");
        _placed[item.Path] = written;
        if (!DurableFileSystem.TryRenameWithinFileSystem(temp, full)) throw new IOException($"could not move the new {item.Path} into place");
        _tempFiles.TryRemove(new KeyValuePair<string, string>(item.Path, temp));
        var kind = item.RenameFrom is not null && moved ? FolderEventKind.Renamed
            : local is { Record.Deleted: false } ? FolderEventKind.Modified : FolderEventKind.Added;
        var detail = kind == FolderEventKind.Renamed ? $"from {item.RenameFrom}, by {by}" : $"from {by}";
        var entry = new LocalEntry(remote with { Version = decision.ResultVersion, Sequence = 0, Manifest = manifest, ModifiedUnixNs = written.ModifiedUnixNs, Permissions = written.Permissions }, written.Inode);
        var committing = await EnqueueCommitAsync(entry, Event(item.Path, remote.ModifiedBy, kind, detail), parent, cancellationToken).ConfigureAwait(false);
        if (conflictCopy is null) return committing;
        await committing.ConfigureAwait(false);
        _catalog.AddFolderEvents([Event(item.Path, local!.Record.ModifiedBy, FolderEventKind.Conflict, $"edited on two nodes at once; this node's version is kept as {conflictCopy}")]);
        await ScanInBackgroundAsync([conflictCopy]).ConfigureAwait(false);
        return null;
    }

    /// <summary>A rename seen as delete + add: the local file with that content moves instead of being fetched again.</summary>
    private bool TryMoveInto(string sourcePath, string temp)
    {
        var source = _local.GetValueOrDefault(sourcePath);
        var sourceFull = FolderPath.ToFullPath(Root, sourcePath);
        if (!Matches(source, FileStatus.Get(sourceFull)) || !_busy.TryAdd(sourcePath, 0)) return false;
        try
        {
            return DurableFileSystem.TryRenameWithinFileSystem(sourceFull, temp);
        }
        finally
        {
            _busy.TryRemove(sourcePath, out _);
        }
    }

    private static void SetPermissions(string full, uint permissions)
    {
        if (!OperatingSystem.IsWindows()) File.SetUnixFileMode(full, (UnixFileMode)(permissions & 0x1FF));
    }

    /// <summary>Chunks this node already has in any folder file are copied from there (and verified) rather than fetched.</summary>
    private async Task CopyLocalChunksAsync(TempFileSink sink, Manifest manifest, CancellationToken cancellationToken)
    {
        byte[]? buffer = null;
        try
        {
            for (var i = 0; i < manifest.ChunkCount; i++)
            {
                if (sink.IsVerified(i) || _content.FindChunk(manifest[i].Hash) is not { } at) continue;
                buffer ??= ChunkBufferPool.Shared.Rent(manifest.MaxChunkLength);
                try
                {
                    var length = at.File.Manifest[at.Index].Length;
                    await _reader.ReadChunkAsync(at.File, at.Index, buffer.AsMemory(0, length), cancellationToken).ConfigureAwait(false);
                    await sink.TryWriteAsync(i, buffer.AsMemory(0, length), cancellationToken).ConfigureAwait(false);
                }
                catch (Exception e) when (e is IOException or UnauthorizedAccessException)
                {
                    // That copy changed or went away; the chunk is fetched from a peer instead.
                }
            }
        }
        finally
        {
            if (buffer is not null) ChunkBufferPool.Shared.Return(buffer);
        }
    }

    /// <summary>
    /// Online peers whose index has this content, the record's own sender first. Lazy: the index is searched for
    /// other holders only when the sender could not serve (a small file asks only its sender).
    /// </summary>
    private IEnumerable<PeerConnection> Holders(PullItem item)
    {
        if (_environment.ConnectionOf(item.Source) is { IsOpen: true } sender) yield return sender;
        foreach (var device in _catalog.FindRemoteHoldersOf(item.Remote.Content))
        {
            if (device != item.Source && _environment.ConnectionOf(device) is { IsOpen: true } holder) yield return holder;
        }
    }

    private async Task<Manifest> FetchManifestAsync(PullItem item, CancellationToken cancellationToken)
    {
        foreach (var connection in Holders(item))
        {
            try
            {
                return await connection.RequestManifestAsync(item.Remote.Content, cancellationToken).ConfigureAwait(false);
            }
            catch (Exception e) when (e is PeerErrorException or ConnectionClosedException)
            {
                _logger.LogDebug("{Peer} could not send the manifest of {Path}: {Error}", connection.RemoteName, item.Path, e.Message);
            }
        }

        throw new NoSourceException("no online node can send it yet");
    }

    private async Task FetchMissingAsync(PullItem item, TempFileSink sink, Manifest manifest, CancellationToken cancellationToken)
    {
        var refusals = 0;
        var missing = Enumerable.Range(0, manifest.ChunkCount).Where(i => !sink.IsVerified(i)).ToList();
        if (missing.Count <= DirectFetchMaxChunks)
        {
            var candidates = Holders(item).Select(c => new ConnectionPeer(c, _environment.DownloadLimit, _environment.ReportBadData, _ => { }));
            foreach (var index in missing) await FetchChunkAsync(item, sink, manifest[index].Length, candidates, index, cancellationToken).ConfigureAwait(false);
            return;
        }

        var holders = Holders(item).ToList();
        var peers = holders.Select(c => new ConnectionPeer(c, _environment.DownloadLimit, _environment.ReportBadData, _ => Interlocked.Increment(ref refusals))).ToList();
        if (peers.Count == 0) throw new NoSourceException("no online node has it");

        var swarm = new SwarmDownload(manifest, sink, new SwarmOptions(), _time, new Random(), _logger);
        foreach (var peer in peers) swarm.AddOrUpdatePeer(peer, Bitfield.Full(manifest.ChunkCount));

        // The swarm waits for peers when it has none left; a pull gives up instead and retries when a holder is back
        // or announces a newer version (holders refuse chunks of content they no longer have, and make no progress).
        using var abandon = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        var run = swarm.RunAsync(abandon.Token);
        var verified = sink.Verified.SetCount;
        while (await Task.WhenAny(run, Task.Delay(TimeSpan.FromSeconds(2), _time, cancellationToken)).ConfigureAwait(false) != run)
        {
            var now = sink.Verified.SetCount;
            if (holders.All(c => !c.IsOpen) || (now == verified && Interlocked.Exchange(ref refusals, 0) > 0)) await abandon.CancelAsync().ConfigureAwait(false);
            verified = now;
        }

        try
        {
            await run.ConfigureAwait(false);
        }
        catch (OperationCanceledException) when (!cancellationToken.IsCancellationRequested)
        {
            throw new NoSourceException("no online node can send it (offline, or it changed there)");
        }
    }

    /// <summary>One chunk, asked of each holder in turn until one sends bytes that hash right.</summary>
    private async Task FetchChunkAsync(PullItem item, TempFileSink sink, int length, IEnumerable<ConnectionPeer> peers, int index, CancellationToken cancellationToken)
    {
        foreach (var peer in peers)
        {
            try
            {
                using var chunk = await peer.RequestChunkAsync(item.Remote.Content, index, length, cancellationToken).ConfigureAwait(false);
                if (await sink.TryWriteAsync(index, chunk.Memory, cancellationToken).ConfigureAwait(false)) return;
                peer.ReportBadData(item.Remote.Content, index);
            }
            catch (Exception e) when (e is ChunkUnavailableException or ChunkBusyException or PeerGoneException)
            {
                _logger.LogDebug("{Peer} could not send chunk {Index} of {Path}: {Error}", peer.Name, index, item.Path, e.Message);
            }
        }

        throw new NoSourceException("no online node could send it");
    }
}
