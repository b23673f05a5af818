using Microsoft.Win32.SafeHandles;
using Shoal.Core;
using Shoal.Core.Folder;
using Shoal.Node.Transfers;
using Shoal.Storage;
using Shoal.Swarm;
using Shoal.Sync;
using Shoal.Sync.Scanning;

namespace Shoal.Node.Folder;

/// <summary>
/// Small files, pulled a batch at a time: the chunk requests of the whole batch go out together, then every file is
/// written under its temp name, then all are flushed, then all are moved into place, and one transaction records them.
/// A file flushed right after it is written costs a synchronous disk write each, while a flush of files written
/// before it finds most of their blocks already on their way; per file, the rest is a handful of system calls.
/// Anything out of the ordinary (a conflict, a rename, content already here, a source that fails) takes the
/// one-file path, which handles every case.
/// </summary>
public sealed partial class SyncedFolder
{
    /// <summary>A file this small is one chunk; the batch holds its bytes in memory between the fetch and the write.</summary>
    private const int SmallFileMaxBytes = 64 * 1024;
    private const int SmallBatchFiles = 256;
    private const int SmallBatchBytes = 4 << 20;

    /// <summary>Two batches at once: one is fetching while the other waits on the disk.</summary>
    private const int SmallBatchesAtOnce = 2;

    private sealed record SmallPull(PullItem Item, Manifest Manifest, string Full, string Temp, LocalEntry? Local, SyncDecision Decision)
    {
        public IChunkBuffer? Data { get; set; }

        public SafeFileHandle? Handle { get; set; }
    }

    /// <summary>The manifest of a file this path can bring in (one chunk at most, fetched, nothing to keep aside), or null.</summary>
    private Manifest? SmallFileManifest(PullItem item)
    {
        var remote = item.Remote;
        if (remote.Deleted || !remote.IsFile || remote.Size > SmallFileMaxBytes || item.RenameFrom is not null) return null;
        var manifest = remote.Manifest ?? _content.FindManifest(remote.Content);
        if (manifest is not { ChunkCount: <= 1 }) return null;
        return manifest.ChunkCount == 1 && _content.FindChunk(manifest[0].Hash) is not null ? null : manifest;
    }

    /// <summary>Splits <paramref name="files"/> into batches of small files, pulled here, and the rest, returned.</summary>
    private async Task<List<PullItem>> PullSmallFilesAsync(List<PullItem> files, CancellationToken cancellationToken)
    {
        var rest = new List<PullItem>();
        var batches = new List<List<(PullItem Item, Manifest Manifest)>>();
        var bytes = 0L;
        foreach (var file in files)
        {
            if (SmallFileManifest(file) is not { } manifest)
            {
                rest.Add(file);
                continue;
            }

            if (batches.Count == 0 || batches[^1].Count == SmallBatchFiles || bytes + manifest.Size > SmallBatchBytes)
            {
                batches.Add([]);
                bytes = 0;
            }

            batches[^1].Add((file, manifest));
            bytes += manifest.Size;
        }

        var fallback = new List<PullItem>();
        await Parallel.ForEachAsync(
            batches,
            new ParallelOptions { MaxDegreeOfParallelism = SmallBatchesAtOnce, CancellationToken = cancellationToken },
            async (batch, token) =>
            {
                var left = await PullSmallBatchAsync(batch, token).ConfigureAwait(false);
                lock (fallback) fallback.AddRange(left);
            }).ConfigureAwait(false);
        rest.AddRange(fallback);
        return rest;
    }

    /// <summary>Returns the items the batch did not handle, for the one-file path.</summary>
    private async Task<List<PullItem>> PullSmallBatchAsync(List<(PullItem Item, Manifest Manifest)> batch, CancellationToken cancellationToken)
    {
        var fallback = new List<PullItem>();
        var pulls = Claim(batch, fallback);
        try
        {
            await FetchSmallAsync(pulls, fallback, cancellationToken).ConfigureAwait(false);
            WriteSmall(pulls);
            PlaceSmall(pulls);
        }
        finally
        {
            foreach (var pull in pulls)
            {
                pull.Data?.Dispose();
                pull.Handle?.Dispose();
                Release(pull.Item.Path);
            }
        }

        return fallback;
    }

    /// <summary>Marks each path busy and checks it as the one-file path does; returns those this batch goes on with.</summary>
    private List<SmallPull> Claim(List<(PullItem Item, Manifest Manifest)> batch, List<PullItem> fallback)
    {
        var pulls = new List<SmallPull>(batch.Count);
        var checkedParents = new HashSet<string>(StringComparer.Ordinal);
        foreach (var (item, manifest) in batch)
        {
            var path = item.Path;
            if (!_busy.TryAdd(path, 0))
            {
                NeedWhenFree(path);
                continue;
            }

            var claimed = false;
            try
            {
                var local = _local.GetValueOrDefault(path);
                var decision = Reconciler.Decide(local?.Record, item.Remote);
                if (decision.Action == SyncAction.None) continue;
                if (decision.Action != SyncAction.Apply)
                {
                    fallback.Add(item);
                    continue;
                }

                var parent = FolderPath.Parent(path);
                if (!checkedParents.Contains(parent))
                {
                    EnsureInsideFolder(path);
                    checkedParents.Add(parent);
                }

                var full = FolderPath.ToFullPath(Root, path);
                if (!Matches(local, FileStatus.Get(full)))
                {
                    _rescanAfterBusy.TryAdd(path, 0);
                    continue;
                }

                pulls.Add(new SmallPull(item, manifest, full, FolderPath.ToTempFullPath(Root, path, item.Remote.Content), local, decision));
                claimed = true;
            }
            catch (Exception e) when (e is RefusedPathException or IOException or UnauthorizedAccessException)
            {
                NotSynced(item, e);
            }
            finally
            {
                if (!claimed) Release(path);
            }
        }

        return pulls;
    }

    /// <summary>All chunk requests at once (one per file, from the record's sender); a file whose fetch fails goes to the one-file path.</summary>
    private async Task FetchSmallAsync(List<SmallPull> pulls, List<PullItem> fallback, CancellationToken cancellationToken)
    {
        var peers = new Dictionary<DeviceId, ConnectionPeer?>();
        var fetches = new List<(SmallPull Pull, ConnectionPeer Peer, Task<IChunkBuffer> Fetch)>();
        foreach (var pull in pulls)
        {
            if (pull.Manifest.ChunkCount == 0) continue;
            var source = pull.Item.Source;
            if (!peers.TryGetValue(source, out var peer))
            {
                peer = _environment.ConnectionOf(source) is { IsOpen: true } connection ? new ConnectionPeer(connection, _environment.DownloadLimit, _environment.ReportBadData, _ => { }) : null;
                peers[source] = peer;
            }

            if (peer is not null) fetches.Add((pull, peer, peer.RequestChunkAsync(pull.Item.Remote.Content, 0, pull.Manifest[0].Length, cancellationToken)));
        }

        var fetched = new HashSet<SmallPull>();
        foreach (var (pull, peer, fetch) in fetches)
        {
            try
            {
                var data = await fetch.ConfigureAwait(false);
                var chunk = pull.Manifest[0];
                if (data.Memory.Length == chunk.Length && Hash256.Compute(data.Memory.Span) == chunk.Hash)
                {
                    pull.Data = data;
                    fetched.Add(pull);
                    continue;
                }

                data.Dispose();
                peer.ReportBadData(pull.Item.Remote.Content, 0);
            }
            catch (Exception e) when (e is ChunkUnavailableException or ChunkBusyException or PeerGoneException)
            {
                _logger.LogDebug("{Peer} could not send {Path}: {Error}", peer.Name, pull.Item.Path, e.Message);
            }
        }

        Drop(pulls, p => p.Manifest.ChunkCount > 0 && !fetched.Contains(p), p => fallback.Add(p.Item));
    }

    /// <summary>Every file under its temp name, then one flush after another: by then most blocks are on their way to the disk.</summary>
    private void WriteSmall(List<SmallPull> pulls)
    {
        var parents = new HashSet<string>(StringComparer.Ordinal);
        foreach (var pull in pulls)
        {
            var path = pull.Item.Path;
            try
            {
                var parent = Path.GetDirectoryName(pull.Full)!;
                if (parents.Add(parent)) Directory.CreateDirectory(parent);
                ForgetTempFile(path, keep: pull.Temp);
                _tempFiles[path] = pull.Temp;
                pull.Handle = File.OpenHandle(pull.Temp, FileMode.Create, FileAccess.Write, FileShare.Read);
                if (pull.Data is { } data) RandomAccess.Write(pull.Handle, data.Memory.Span, 0);
                pull.Data?.Dispose();
                pull.Data = null;
                if (!OperatingSystem.IsWindows()) File.SetUnixFileMode(pull.Handle, (UnixFileMode)(pull.Item.Remote.Permissions & 0x1FF));
                File.SetLastWriteTimeUtc(pull.Handle, pull.Item.Remote.ModifiedUtc);
            }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException)
            {
                NotSynced(pull.Item, e);
                pull.Handle?.Dispose();
                pull.Handle = null;
            }
        }

        foreach (var pull in pulls)
        {
            if (pull.Handle is null) continue;
            try
            {
                RandomAccess.FlushToDisk(pull.Handle);
            }
            catch (IOException e)
            {
                NotSynced(pull.Item, e);
                pull.Handle.Dispose();
                pull.Handle = null;
            }
        }

        Drop(pulls, p => p.Handle is null, _ => { });
        foreach (var pull in pulls)
        {
            pull.Handle!.Dispose();
            pull.Handle = null;
        }
    }

    /// <summary>Each file moved into place after a last look (a local edit meanwhile wins), then all recorded at once.</summary>
    private void PlaceSmall(List<SmallPull> pulls)
    {
        var entries = new List<LocalEntry>(pulls.Count);
        var events = new List<FolderEvent>(pulls.Count);
        var directories = new HashSet<string>(StringComparer.Ordinal);
        foreach (var pull in pulls)
        {
            var item = pull.Item;
            try
            {
                var local = _local.GetValueOrDefault(item.Path);
                if (!Matches(local, FileStatus.Get(pull.Full)))
                {
                    _rescanAfterBusy.TryAdd(item.Path, 0);
                    continue;
                }

                if (local is { Record: { Deleted: false, IsFile: true } }) _trash.Keep(pull.Full, item.Path);
                var written = FileStatus.Get(pull.Temp) ?? throw new IOException($"the new {item.Path} vanished before it was moved into place");
                _placed[item.Path] = written;
                if (!DurableFileSystem.TryRenameWithinFileSystem(pull.Temp, pull.Full)) throw new IOException($"could not move the new {item.Path} into place");
                _tempFiles.TryRemove(new KeyValuePair<string, string>(item.Path, pull.Temp));
                directories.Add(Path.GetDirectoryName(pull.Full)!);
                var remote = item.Remote;
                entries.Add(new LocalEntry(remote with { Version = pull.Decision.ResultVersion, Sequence = 0, Manifest = pull.Manifest, ModifiedUnixNs = written.ModifiedUnixNs, Permissions = written.Permissions }, written.Inode));
                var kind = local is { Record.Deleted: false } ? FolderEventKind.Modified : FolderEventKind.Added;
                events.Add(Event(item.Path, remote.ModifiedBy, kind, $"from {_environment.NameOf(item.Source)}"));
            }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException)
            {
                NotSynced(item, e);
            }
        }

        try
        {
            foreach (var directory in directories) DurableFileSystem.FlushDirectory(directory);
            Commit(entries, events);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException or Microsoft.Data.Sqlite.SqliteException)
        {
            // On disk but not recorded: a scan finds each file and records it as it is.
            _logger.LogWarning("Could not record {Count} pulled files: {Error}", entries.Count, e.Message);
            foreach (var entry in entries) _rescanAfterBusy.TryAdd(entry.Record.Path, 0);
        }
    }

    /// <summary>Takes out the pulls that match, releasing their paths, and hands each to <paramref name="then"/>.</summary>
    private void Drop(List<SmallPull> pulls, Func<SmallPull, bool> match, Action<SmallPull> then)
    {
        for (var i = pulls.Count - 1; i >= 0; i--)
        {
            var pull = pulls[i];
            if (!match(pull)) continue;
            pulls.RemoveAt(i);
            pull.Data?.Dispose();
            pull.Handle?.Dispose();
            Release(pull.Item.Path);
            then(pull);
        }
    }
}
