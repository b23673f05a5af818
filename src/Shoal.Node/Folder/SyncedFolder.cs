using System.Collections.Concurrent;
using Microsoft.Extensions.Logging;
using Shoal.Core;
using Shoal.Core.Folder;
using Shoal.Net.Connections;
using Shoal.Protocol;
using Shoal.Storage;
using Shoal.Sync;
using Shoal.Sync.Scanning;

namespace Shoal.Node.Folder;

public sealed record FolderOptions
{
    /// <summary>Full rescans catch what the watcher missed (a full event buffer, a file system without events).</summary>
    public TimeSpan RescanInterval { get; init; } = TimeSpan.FromMinutes(1);

    /// <summary>How long a path must be quiet before a change is scanned, so a file still being written is hashed once.</summary>
    public TimeSpan WatchQuiet { get; init; } = TimeSpan.FromMilliseconds(50);

    public TimeSpan TrashRetention { get; init; } = TimeSpan.FromDays(30);

    public TimeSpan RetryInterval { get; init; } = TimeSpan.FromSeconds(5);

    /// <summary>Files fetched at once; small files are mostly waiting on fsync and round trips, so many overlap well.</summary>
    public int ParallelPulls { get; init; } = 32;
}

/// <summary>What the node tells the folder about its surroundings; keeps the folder free of the node's types.</summary>
public sealed record FolderEnvironment(
    DeviceId Self,
    Func<DeviceId, string> NameOf,
    Func<DeviceId, PeerConnection?> ConnectionOf,
    TokenBucket DownloadLimit,
    Action<DeviceId, FileId, int> ReportBadData);

/// <summary>
/// The node's synced folder: notices local changes (watcher plus periodic rescans), records them in this node's
/// index with version vectors, exchanges indexes with peers from where each left off, and pulls what peers changed.
/// Never overwrites or deletes a local change it has not recorded, never writes outside the folder, and keeps
/// what it replaces or deletes in the trash.
/// </summary>
public sealed partial class SyncedFolder : IAsyncDisposable
{
    public const string DefaultId = "default";
    private const int IndexBatchRecords = 1000;
    private const int IndexBatchBytes = 1 << 20;
    private static readonly TimeSpan StaleTempAge = TimeSpan.FromDays(1);

    private readonly FolderEnvironment _environment;
    private readonly Catalog _catalog;
    private readonly FolderOptions _options;
    private readonly ILogger _logger;
    private readonly TimeProvider _time;
    private readonly FolderScanner _scanner;
    private readonly FolderContent _content;
    private readonly FolderTrash _trash;
    private readonly LocalFileReader _reader;
    private readonly ConcurrentDictionary<string, LocalEntry> _local = new(StringComparer.Ordinal);
    private readonly ConcurrentDictionary<string, byte> _busy = new(StringComparer.Ordinal);
    private readonly ConcurrentDictionary<string, byte> _rescanAfterBusy = new(StringComparer.Ordinal);

    /// <summary>Files a pull has moved into place but not yet recorded: a scan that finds exactly them found no edit.</summary>
    private readonly ConcurrentDictionary<string, FileStatus> _placed = new(StringComparer.Ordinal);
    private readonly ConcurrentDictionary<string, byte> _needWhenFree = new(StringComparer.Ordinal);

    /// <summary>The temp file of each path's latest pull that has not been moved into place yet.</summary>
    private readonly ConcurrentDictionary<string, string> _tempFiles = new(StringComparer.Ordinal);
    private readonly ConcurrentDictionary<PeerConnection, IndexSender> _senders = new();
    private readonly Lock _commitGate = new();
    private readonly Lock _needGate = new();
    private readonly HashSet<string> _needed = new(StringComparer.Ordinal);
    private readonly Dictionary<string, string> _waiting = new(StringComparer.Ordinal);

    /// <summary>Files the scans could not read (a disk error, no permission), and why: left as the index has them, and reported.</summary>
    private readonly ConcurrentDictionary<string, string> _unreadable = new(StringComparer.Ordinal);
    private readonly SemaphoreSlim _scanLock = new(1, 1);
    private readonly SemaphoreSlim _needSignal = new(0, 1);
    private readonly CancellationTokenSource _stopping = new();
    private readonly ulong _selfKey;
    private FolderWatcher? _watcher;
    private IgnoreRules _ignore = IgnoreRules.Empty;
    private Task _loops = Task.CompletedTask;
    private DateTimeOffset? _lastScan;
    private volatile bool _fullScanRunning;
    private volatile string? _error;

    public SyncedFolder(string root, string trashDirectory, Catalog catalog, FolderEnvironment environment, FolderOptions options, ILogger logger, TimeProvider time)
    {
        Root = Path.GetFullPath(root);
        _catalog = catalog;
        _environment = environment;
        _options = options;
        _logger = logger;
        _time = time;
        _selfKey = VersionVector.KeyOf(environment.Self);
        _scanner = new FolderScanner(Root, environment.Self, time, logger);
        _content = new FolderContent(Root);
        _trash = new FolderTrash(trashDirectory, options.TrashRetention, time);
        _reader = new LocalFileReader(time);
    }

    public string Root { get; }

    /// <summary>Raised after this node's index changed (a local edit, or a pulled change now on disk).</summary>
    public event Action<IReadOnlyList<FileRecord>>? Committed;

    public async Task StartAsync(CancellationToken cancellationToken)
    {
        Directory.CreateDirectory(Root);
        foreach (var entry in _catalog.ListLocalEntries())
        {
            _local[entry.Record.Path] = entry;
            _content.Set(entry.Record);
        }

        LoadIgnoreRules();
        _trash.Expire();
        _watcher = new FolderWatcher(Root, _time, _options.WatchQuiet);
        _watcher.Changed += paths => _ = ScanInBackgroundAsync(paths);
        _watcher.Overflowed += () => _ = ScanInBackgroundAsync(null);
        _watcher.Start();
        await ScanAsync(null, cancellationToken).ConfigureAwait(false);
        foreach (var (_, record) in _catalog.ListRemoteEntries()) Need(record.Path);
        _loops = Task.WhenAll(Task.Run(PullLoopAsync), Task.Run(RescanLoopAsync), Task.Run(RetryLoopAsync));
    }

    private void LoadIgnoreRules()
    {
        var path = Path.Combine(Root, IgnoreRules.FileName);
        try
        {
            _ignore = File.Exists(path) ? IgnoreRules.Parse(File.ReadAllText(path)) : IgnoreRules.Empty;
        }
        catch (IOException e)
        {
            _logger.LogWarning("Could not read {Path}: {Error}", path, e.Message);
        }
    }

    // ---- Local changes ---------------------------------------------------------------------------------------

    /// <summary>Scans the whole folder (or some paths) and records and announces what changed.</summary>
    public async Task<ScanSummary> ScanAsync(IReadOnlyCollection<string>? paths, CancellationToken cancellationToken)
    {
        await _scanLock.WaitAsync(cancellationToken).ConfigureAwait(false);
        try
        {
            _fullScanRunning = paths is null;

            // Read on every scan: a .shoalignore written together with the files it excludes must apply to them.
            LoadIgnoreRules();
            var result = await _scanner.ScanAsync(_local, _ignore, paths, cancellationToken).ConfigureAwait(false);
            var committed = CommitScan(result.Changes);
            NoteUnreadable(paths, result.Skipped);
            if (paths is null)
            {
                _lastScan = _time.GetUtcNow();
                ClearStaleTempFiles(result.TempFiles);
            }

            _error = null;
            return new ScanSummary(committed, result.FilesHashed, result.BytesHashed, result.Skipped.Count);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            _error = e.Message;
            _logger.LogError("Scanning {Root} failed: {Error}", Root, e.Message);
            throw;
        }
        finally
        {
            _fullScanRunning = false;
            _scanLock.Release();
        }
    }

    private void NoteUnreadable(IReadOnlyCollection<string>? scanned, IReadOnlyList<(string Path, string Reason)> skipped)
    {
        var unreadable = skipped.Where(s => s.Reason != FolderScanner.ChangingReason).ToDictionary(s => s.Path, s => s.Reason, StringComparer.Ordinal);
        foreach (var path in scanned ?? [.. _unreadable.Keys])
        {
            if (!unreadable.ContainsKey(path)) _unreadable.TryRemove(path, out _);
        }

        foreach (var (path, reason) in unreadable)
        {
            if (_unreadable.TryAdd(path, reason)) _logger.LogWarning("Cannot read {Path} in the synced folder: {Reason}; the other files sync as usual", path, reason);
            else _unreadable[path] = reason;
        }
    }

    /// <summary>
    /// A temp file nobody has written to for a day was left by a pull that will not finish (the content changed again,
    /// or the file was deleted meanwhile): removed, but only while no pull is running, so none is cut short.
    /// </summary>
    private void ClearStaleTempFiles(IReadOnlyList<string> tempFiles)
    {
        var cutoff = _time.GetUtcNow() - StaleTempAge;
        foreach (var path in tempFiles)
        {
            if (!_busy.IsEmpty) return;
            // A temp name is not a folder path (the scanner never indexes one): only its directory is.
            var parent = FolderPath.Parent(path);
            var full = Path.Combine(parent.Length == 0 ? Root : FolderPath.ToFullPath(Root, parent), FolderPath.FileName(path));
            try
            {
                if (FileStatus.Get(full) is not { Kind: FileStatusKind.File } status || DateTimeOffset.FromUnixTimeMilliseconds(status.ModifiedUnixNs / 1_000_000) > cutoff) continue;
                File.Delete(full);
                _logger.LogInformation("Removed {Path}, left by a sync that did not finish", path);
            }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException)
            {
                _logger.LogDebug("Could not remove {Path}: {Error}", path, e.Message);
            }
        }
    }

    /// <summary>Returns false if the scan failed (logged by <see cref="ScanAsync"/>; the next rescan tries again).</summary>
    private async Task<bool> ScanInBackgroundAsync(IReadOnlyCollection<string>? paths)
    {
        try
        {
            await ScanAsync(paths, _stopping.Token).ConfigureAwait(false);
            return true;
        }
        catch (Exception e) when (e is OperationCanceledException or IOException or UnauthorizedAccessException or ObjectDisposedException)
        {
            return false;
        }
    }

    private async Task RescanLoopAsync()
    {
        using var timer = new PeriodicTimer(_options.RescanInterval, _time);
        try
        {
            while (await timer.WaitForNextTickAsync(_stopping.Token).ConfigureAwait(false))
            {
                await ScanInBackgroundAsync(null).ConfigureAwait(false);
                _trash.Expire();
            }
        }
        catch (OperationCanceledException)
        {
            // Stopping.
        }
    }

    /// <summary>Paths that could not be fetched (no source answered) are tried again now and then.</summary>
    private async Task RetryLoopAsync()
    {
        using var timer = new PeriodicTimer(_options.RetryInterval, _time);
        try
        {
            while (await timer.WaitForNextTickAsync(_stopping.Token).ConfigureAwait(false)) RetryWaiting();
        }
        catch (OperationCanceledException)
        {
            // Stopping.
        }
    }

    /// <summary>
    /// Records what the scanner found, checked again against the index as it is now: the puller may have recorded
    /// the same file meanwhile (then it is no change), and a path it is still writing is left to it and rescanned after.
    /// </summary>
    private int CommitScan(IReadOnlyList<LocalEntry> changes)
    {
        if (changes.Count == 0) return 0;
        var now = (ulong)_time.GetUtcNow().ToUnixTimeSeconds();
        var accepted = new List<LocalEntry>();
        var events = new List<FolderEvent>();
        lock (_commitGate)
        {
            foreach (var change in changes)
            {
                var path = change.Record.Path;
                if (_busy.ContainsKey(path))
                {
                    if (!(_placed.TryGetValue(path, out var placed) && placed.IsFileOf(change) && placed.Permissions == change.Record.Permissions)) _rescanAfterBusy.TryAdd(path, 0);
                    continue;
                }

                var current = _local.GetValueOrDefault(path);
                if (DescribesSameDisk(current, change)) continue;
                if (current is not null && change.Record.Version.Equals(current.Record.Version))
                {
                    // The same content under a new inode (saved by rename): no new version, only where to find it.
                    accepted.Add(change);
                    continue;
                }

                var version = (current?.Record.Version ?? VersionVector.Empty).Increment(_selfKey, now);
                accepted.Add(change with { Record = change.Record with { Version = version } });
                events.Add(Event(path, _environment.Self, change.Record.Deleted ? FolderEventKind.Deleted : current is null || current.Record.Deleted ? FolderEventKind.Added : FolderEventKind.Modified, "changed here"));
            }

            Commit(accepted, events);
        }

        // A peer's record that lost to our last version may win against this one (a deletion of ours never beats a
        // peer's edit): it was decided on once, when it came, and nothing else would look at it again.
        foreach (var change in accepted)
        {
            var version = _local.GetValueOrDefault(change.Record.Path)?.Record.Version;
            if (version is not null && _catalog.ListRemoteEntries(change.Record.Path).Any(r => r.Record.Version.Compare(version) == Causality.Concurrent))
            {
                Need(change.Record.Path);
            }
        }

        return accepted.Count;
    }

    private static bool DescribesSameDisk(LocalEntry? current, LocalEntry change)
    {
        if (current is null) return change.Record.Deleted;
        var a = current.Record;
        var b = change.Record;
        if (a.Deleted || b.Deleted) return a.Deleted && b.Deleted;
        return a.Kind == b.Kind && a.Permissions == b.Permissions
            && (a.Kind == EntryKind.Directory || (a.Size == b.Size && a.ModifiedUnixNs == b.ModifiedUnixNs && current.Inode == change.Inode));
    }

    /// <summary>Stores entries in this node's index (in one transaction), updates what is served, wakes the senders.</summary>
    private void Commit(IReadOnlyList<LocalEntry> entries, IReadOnlyList<FolderEvent> events)
    {
        if (entries.Count == 0 && events.Count == 0) return;
        IReadOnlyList<FileRecord> saved;
        lock (_commitGate)
        {
            saved = entries.Count == 0 ? [] : _catalog.SaveLocalEntries(entries);
            for (var i = 0; i < saved.Count; i++)
            {
                _local[saved[i].Path] = new LocalEntry(saved[i], entries[i].Inode);
                _content.Set(saved[i]);
            }

            if (events.Count > 0) _catalog.AddFolderEvents(events);
        }

        if (saved.Count == 0) return;
        if (saved.Any(r => r.Path == IgnoreRules.FileName)) LoadIgnoreRules();
        foreach (var sender in _senders.Values) sender.Wake();
        Committed?.Invoke(saved);
    }

    private FolderEvent Event(string path, DeviceId device, FolderEventKind kind, string detail) =>
        new(_time.GetUtcNow(), path, device, _environment.NameOf(device), kind, detail);

    // ---- Index exchange --------------------------------------------------------------------------------------

    /// <summary>A peer connected: ask for its index from where we left off.</summary>
    public void OnConnected(PeerConnection connection)
    {
        var state = _catalog.GetRemoteIndexState(connection.RemoteId);
        connection.Send(new IndexRequest(DefaultId, state?.Epoch ?? 0, state?.Sequence ?? 0));
        RetryWaiting();
    }

    public void OnDisconnected(PeerConnection connection)
    {
        if (_senders.TryRemove(connection, out var sender)) sender.Stop();
    }

    public void OnIndexRequest(PeerConnection connection, IndexRequest request)
    {
        if (request.Folder != DefaultId) return;
        var sender = new IndexSender(this, connection, request);
        if (_senders.TryGetValue(connection, out var previous)) previous.Stop();
        _senders[connection] = sender;
        sender.Start();
    }

    public async ValueTask OnIndexUpdateAsync(PeerConnection connection, IndexUpdate update, CancellationToken cancellationToken)
    {
        if (update.Folder != DefaultId) return;
        var accepted = new List<FileRecord>(update.Records.Count);
        var refused = new List<FolderEvent>();
        foreach (var record in update.Records)
        {
            if (FolderPath.IsValid(record.Path, out var error))
            {
                accepted.Add(record);
                continue;
            }

            if (refused.Count < 10) _logger.LogWarning("Refused a folder record from {Peer}: {Error}", connection.RemoteName, error);
            refused.Add(Event(Printable(record.Path), connection.RemoteId, FolderEventKind.Refused, error));
        }

        await Task.Run(
            () =>
            {
                _catalog.ApplyRemoteIndex(connection.RemoteId, update.Epoch, update.Reset, accepted);
                if (refused.Count > 0) _catalog.AddFolderEvents(refused);
            },
            cancellationToken).ConfigureAwait(false);
        foreach (var record in accepted)
        {
            // Most of what a peer sends back is what it just pulled from here: nothing to do, and no round to plan.
            if (_local.TryGetValue(record.Path, out var local) && record.Version.Compare(local.Record.Version) is Causality.Equal or Causality.Older) continue;
            if (_running.TryGetValue(record.Path, out var pull))
            {
                try
                {
                    await pull.CancelAsync().ConfigureAwait(false);
                }
                catch (ObjectDisposedException)
                {
                    // That pull just finished.
                }
            }

            Need(record.Path);
        }
    }

    private static string Printable(string path) =>
        new([.. path.Take(256).Select(c => char.IsControl(c) ? '?' : c)]);

    /// <summary>Streams this node's index to one peer: first what it lacks, then every change as it is committed.</summary>
    private sealed class IndexSender(SyncedFolder folder, PeerConnection connection, IndexRequest request)
    {
        private readonly SemaphoreSlim _wake = new(0, 1);
        private readonly CancellationTokenSource _stop = new();

        public void Start() => _ = Task.Run(RunAsync);

        public void Wake()
        {
            try
            {
                if (_wake.CurrentCount == 0) _wake.Release();
            }
            catch (SemaphoreFullException)
            {
                // Already awake.
            }
        }

        public void Stop() => _stop.Cancel();

        private async Task RunAsync()
        {
            var token = _stop.Token;
            var epoch = folder._catalog.FolderEpoch;
            var reset = request.KnownEpoch != epoch || request.KnownSequence > folder._catalog.LocalSequence;
            var after = reset ? 0 : request.KnownSequence;
            var first = true;
            try
            {
                while (connection.IsOpen && !token.IsCancellationRequested)
                {
                    var records = folder._catalog.ListLocalSince(after, IndexBatchRecords);
                    if (records.Count == 0)
                    {
                        if (first && reset) await connection.SendAsync(new IndexUpdate(DefaultId, epoch, Reset: true, []), token).ConfigureAwait(false);
                        first = false;
                        await _wake.WaitAsync(token).ConfigureAwait(false);
                        continue;
                    }

                    foreach (var batch in Batches(records))
                    {
                        await connection.SendAsync(new IndexUpdate(DefaultId, epoch, first && reset, batch), token).ConfigureAwait(false);
                        first = false;
                    }

                    after = records[^1].Sequence;
                }
            }
            catch (OperationCanceledException)
            {
                // The connection closed or a newer request replaced this sender.
            }
        }

        private static IEnumerable<List<FileRecord>> Batches(IReadOnlyList<FileRecord> records)
        {
            var batch = new List<FileRecord>();
            var bytes = 0;
            foreach (var record in records)
            {
                var size = FrameCodec.EstimateRecordSize(record);
                if (batch.Count > 0 && (bytes + size > IndexBatchBytes || batch.Count == IndexUpdate.MaxRecords))
                {
                    yield return batch;
                    batch = [];
                    bytes = 0;
                }

                batch.Add(record);
                bytes += size;
            }

            if (batch.Count > 0) yield return batch;
        }
    }

    // ---- Serving ---------------------------------------------------------------------------------------------

    public Manifest? FindManifest(FileId content) => _content.FindManifest(content);

    /// <summary>Serves a chunk of a folder file to a peer. Throws <see cref="ChunkServeException"/>.</summary>
    public async ValueTask ReadChunkAsync(FileId content, int index, Memory<byte> destination, CancellationToken cancellationToken)
    {
        var file = _content.Find(content) ?? throw new ChunkServeException(ErrorCode.NotFound, "this node does not have that file");
        try
        {
            await _reader.ReadChunkAsync(file, index, destination, cancellationToken).ConfigureAwait(false);
        }
        catch (Exception e) when (e is FileChangedException or FileNotFoundException or DirectoryNotFoundException)
        {
            _ = ScanInBackgroundAsync([FolderPath.FromFullPath(Root, file.Path) ?? ""]);
            throw new ChunkServeException(ErrorCode.FileChanged, $"'{file.Name}' changed here; its new version will be announced");
        }
    }

    // ---- Status ----------------------------------------------------------------------------------------------

    public FolderStatus Status()
    {
        int needFiles;
        string[] waiting;
        lock (_needGate)
        {
            needFiles = _needed.Count + _waiting.Count;
            waiting = [.. _waiting.Values.Distinct().Take(5)];
        }

        var live = _local.Values.Where(e => !e.Record.Deleted).ToList();
        var files = live.Where(e => e.Record.IsFile).ToList();
        var conflicts = files.Count(e => ConflictNames.IsConflictCopy(e.Record.Path));
        var state = _error is not null ? "error" : _fullScanRunning ? "scanning" : needFiles > 0 || !_busy.IsEmpty ? "syncing" : "idle";
        return new FolderStatus(
            Root, state, needFiles + _busy.Count, files.Count, files.Sum(e => e.Record.Size),
            live.Count - files.Count, conflicts, _lastScan, _error ?? Unreadable() ?? (waiting.Length > 0 ? string.Join("; ", waiting) : null));
    }

    private string? Unreadable()
    {
        var unreadable = _unreadable.OrderBy(u => u.Key, StringComparer.Ordinal).ToList();
        if (unreadable.Count == 0) return null;
        var listed = string.Join("; ", unreadable.Take(5).Select(u => $"{u.Key}: {u.Value}"));
        return $"{unreadable.Count} file{(unreadable.Count == 1 ? "" : "s")} could not be read and {(unreadable.Count == 1 ? "is" : "are")} not synced: {listed}{(unreadable.Count > 5 ? "; ..." : "")}";
    }

    public IReadOnlyList<FolderEvent> RecentEvents(int limit) => _catalog.ListFolderEvents(limit);

    public async ValueTask DisposeAsync()
    {
        await _stopping.CancelAsync().ConfigureAwait(false);
        _watcher?.Dispose();
        foreach (var sender in _senders.Values) sender.Stop();
        await _loops.ConfigureAwait(false);
        await _flush.DisposeAsync().ConfigureAwait(false);
        _reader.Dispose();
        _stopping.Dispose();
    }
}

public sealed record ScanSummary(int Changes, int FilesHashed, long BytesHashed, int Skipped);

/// <summary>What <c>shoal status</c> and the API say about the folder.</summary>
public sealed record FolderStatus(
    string Path, string State, int NeedFiles, int Files, long Bytes, int Directories, int Conflicts, DateTimeOffset? LastScan, string? Problem);
