using System.Diagnostics.CodeAnalysis;
using System.IO.Enumeration;
using Microsoft.Extensions.Logging;
using Shoal.Core;
using Shoal.Core.Folder;

namespace Shoal.Sync.Scanning;

/// <summary>What a scan found.</summary>
/// <param name="Changes">
/// New entries for the index, in an order that is sensible to apply: deletions first, deepest first, then
/// additions and edits, each directory before what it contains. An entry whose record equals the known one only
/// refreshes the inode: the file was replaced by the same bytes with the same times, which is no new version.
/// </param>
/// <param name="Skipped">Entries left alone this scan, and why; whatever the index has for them stays.</param>
/// <param name="FilesHashed">Files read in full because their size, time or inode no longer matched the index.</param>
/// <param name="TempFiles">Shoal's own temp files met on the way (never indexed): stale ones are the caller's to clear.</param>
public sealed record ScanResult(
    IReadOnlyList<LocalEntry> Changes,
    IReadOnlyList<(string Path, string Reason)> Skipped,
    int FilesHashed,
    long BytesHashed,
    IReadOnlyList<string> TempFiles);

/// <summary>
/// Compares a synced folder on disk with this node's index of it. Files whose size, modification time and inode
/// match the index are trusted without being read, so a rescan of an unchanged folder costs one stat per entry.
/// Symbolic links are never followed: the scan cannot be led outside the folder.
/// </summary>
public sealed class FolderScanner(string root, DeviceId self, TimeProvider time, ILogger logger)
{
    /// <summary>Why a file still being written was skipped: no problem, it is scanned again once it settles.</summary>
    public const string ChangingReason = "changed while it was being read; it is scanned again once it settles";

    private static readonly EnumerationOptions ListOptions = new()
    {
        RecurseSubdirectories = false,
        IgnoreInaccessible = false,
        AttributesToSkip = 0,
        ReturnSpecialDirectories = false,
    };

    private readonly string _root = Path.TrimEndingDirectorySeparator(Path.GetFullPath(root));
    private readonly DeviceId _self = self;
    private readonly ulong _selfKey = VersionVector.KeyOf(self);
    private readonly TimeProvider _time = time;
    private readonly ILogger _logger = logger;

    /// <summary>
    /// Walks the folder, or only <paramref name="onlyPaths"/> (and everything below those that are directories),
    /// and returns what changed compared to <paramref name="known"/>, this node's index (path → entry). A path in
    /// <paramref name="onlyPaths"/> that no longer exists yields a deletion for it and for every known entry below it.
    /// </summary>
    /// <exception cref="DirectoryNotFoundException">The folder itself is missing.</exception>
    public async Task<ScanResult> ScanAsync(
        IReadOnlyDictionary<string, LocalEntry> known,
        IgnoreRules ignore,
        IReadOnlyCollection<string>? onlyPaths,
        CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(known);
        ArgumentNullException.ThrowIfNull(ignore);

        // Without this check an unmounted disk would look like a folder whose every file was deleted.
        if (!Directory.Exists(_root))
        {
            throw new DirectoryNotFoundException($"The folder '{_root}' does not exist or is not a directory; is its disk mounted?");
        }

        var scan = new Scan(this, known, ignore);
        await Task.Run(() => scan.Walk(onlyPaths, cancellationToken), cancellationToken).ConfigureAwait(false);
        await scan.HashAsync(cancellationToken).ConfigureAwait(false);
        var result = scan.Finish();
        ScanLog.Scanned(_logger, _root, result.Changes.Count, result.Skipped.Count, result.FilesHashed, result.BytesHashed);
        return result;
    }

    private string FullPath(string path) => path.Length == 0 ? _root : Path.Join(_root, path);

    private VersionVector NextVersion(FileRecord? known) =>
        (known?.Version ?? VersionVector.Empty).Increment(_selfKey, (ulong)_time.GetUtcNow().ToUnixTimeSeconds());

    private static bool IsLive([NotNullWhen(true)] LocalEntry? entry, EntryKind kind) => entry is { Record.Deleted: false } && entry.Record.Kind == kind;

    /// <summary>True if <paramref name="path"/> or one of its parent directories is in <paramref name="paths"/>.</summary>
    private static bool IsAtOrBelowAny(HashSet<string>.AlternateLookup<ReadOnlySpan<char>> paths, string path)
    {
        var span = path.AsSpan();
        while (true)
        {
            if (paths.Contains(span)) return true;
            var slash = span.LastIndexOf('/');
            if (slash < 0) return false;
            span = span[..slash];
        }
    }

    private static List<string> ListNames(string fullDirectory) =>
        [.. new FileSystemEnumerable<string>(fullDirectory, static (ref FileSystemEntry entry) => entry.FileName.ToString(), ListOptions)];

    private readonly record struct HashJob(string Path, FileStatus Status, LocalEntry? Known);

    private readonly record struct HashOutcome(LocalEntry? Change, string? SkipReason);

    /// <summary>The state of one scan: found entries, changes so far, files still to hash.</summary>
    private sealed class Scan(FolderScanner scanner, IReadOnlyDictionary<string, LocalEntry> known, IgnoreRules ignore)
    {
        private readonly List<LocalEntry> _changes = [];
        private readonly List<(string Path, string Reason)> _skipped = [];
        private readonly List<string> _tempFiles = [];
        private readonly List<HashJob> _toHash = [];
        private readonly Stack<string> _directories = new();

        /// <summary>Paths that exist (or were skipped): no deletion for them.</summary>
        private readonly HashSet<string> _seen = new(StringComparer.Ordinal);

        /// <summary>Directories that could not be listed: nothing below them is known to be gone.</summary>
        private readonly HashSet<string> _unreadable = new(StringComparer.Ordinal);

        /// <summary>The roots of a partial scan; null for the whole folder.</summary>
        private HashSet<string>? _scopes;

        private int _filesHashed;
        private long _bytesHashed;

        public void Walk(IReadOnlyCollection<string>? onlyPaths, CancellationToken ct)
        {
            if (onlyPaths is null || onlyPaths.Any(p => p.Trim('/').Length == 0))
            {
                _directories.Push("");
            }
            else
            {
                _scopes = new HashSet<string>(StringComparer.Ordinal);
                var scopes = _scopes.GetAlternateLookup<ReadOnlySpan<char>>();

                // Shortest first, so a path below another one given is found already covered.
                foreach (var path in onlyPaths.Select(p => p.Trim('/')).Distinct().OrderBy(p => p.Length))
                {
                    if (path.Split('/').Any(FolderPath.IsTempName) || IsAtOrBelowAny(scopes, path)) continue;
                    if (!FolderPath.IsValid(path, out var error))
                    {
                        Skip(path, error);
                        continue;
                    }

                    _scopes.Add(path);
                    VisitScopeRoot(path);
                }
            }

            while (_directories.TryPop(out var directory))
            {
                ct.ThrowIfCancellationRequested();
                List<string> names;
                try
                {
                    names = ListNames(scanner.FullPath(directory));
                }
                catch (Exception e) when (directory.Length > 0 && e is IOException or UnauthorizedAccessException)
                {
                    Skip(directory, "could not be listed: " + e.Message);
                    _unreadable.Add(directory);
                    continue;
                }

                foreach (var name in names)
                {
                    var path = directory.Length == 0 ? name : string.Concat(directory, "/", name);
                    if (FolderPath.IsTempName(name))
                    {
                        _tempFiles.Add(path);
                        continue;
                    }

                    if (!FolderPath.IsValid(path, out var error))
                    {
                        Skip(path, error);
                        continue;
                    }

                    if (TryStat(path, out var status) && status is { } found) Visit(path, found);
                }
            }
        }

        public async Task HashAsync(CancellationToken ct)
        {
            var outcomes = new HashOutcome[_toHash.Count];
            var options = new ParallelOptions { MaxDegreeOfParallelism = Environment.ProcessorCount, CancellationToken = ct };
            await Parallel.ForEachAsync(
                Enumerable.Range(0, _toHash.Count),
                options,
                async (i, token) => outcomes[i] = await HashOneAsync(_toHash[i], token).ConfigureAwait(false)).ConfigureAwait(false);

            for (var i = 0; i < outcomes.Length; i++)
            {
                if (outcomes[i].Change is { } change) _changes.Add(change);
                else if (outcomes[i].SkipReason is { } reason) Skip(_toHash[i].Path, reason);
            }
        }

        public ScanResult Finish()
        {
            var deletions = FindDeletions();
            deletions.Sort(static (a, b) => string.CompareOrdinal(b.Record.Path, a.Record.Path));
            _changes.Sort(static (a, b) => string.CompareOrdinal(a.Record.Path, b.Record.Path));
            _skipped.Sort(static (a, b) => string.CompareOrdinal(a.Path, b.Path));
            return new ScanResult([.. deletions, .. _changes], _skipped, _filesHashed, _bytesHashed, _tempFiles);
        }

        /// <summary>
        /// A path given to a partial scan: its parents must all be real directories (a symbolic link among them
        /// would lead outside the folder; a file means the path is gone), then it is visited like a listed entry.
        /// </summary>
        private void VisitScopeRoot(string path)
        {
            for (var slash = path.IndexOf('/'); slash >= 0; slash = path.IndexOf('/', slash + 1))
            {
                if (!TryStat(path[..slash], out var parent)) return;
                if (parent is not { Kind: FileStatusKind.Directory }) return;
            }

            if (TryStat(path, out var status) && status is { } found) Visit(path, found);
        }

        private void Visit(string path, FileStatus status)
        {
            if (ignore.IsIgnored(path, status.Kind == FileStatusKind.Directory)) return;
            _seen.Add(path);
            switch (status.Kind)
            {
                case FileStatusKind.File:
                    VisitFile(path, status);
                    break;
                case FileStatusKind.Directory:
                    VisitDirectory(path, status);
                    _directories.Push(path);
                    break;
                case FileStatusKind.Symlink:
                    Skip(path, "it is a symbolic link, which is neither followed nor synced");
                    break;
                default:
                    Skip(path, "it is a device, FIFO or socket; only files and directories are synced");
                    break;
            }
        }

        private void VisitFile(string path, FileStatus status)
        {
            var entry = known.GetValueOrDefault(path);
            if (IsLive(entry, EntryKind.File) && status.IsFileOf(entry))
            {
                if (entry.Record.Permissions != status.Permissions)
                {
                    var record = entry.Record with
                    {
                        Permissions = status.Permissions,
                        ModifiedBy = scanner._self,
                        Version = scanner.NextVersion(entry.Record),
                        Sequence = 0,
                    };
                    _changes.Add(new LocalEntry(record, status.Inode));
                }

                return;
            }

            _toHash.Add(new HashJob(path, status, entry));
        }

        /// <summary>A directory's own modification time changes whenever an entry in it does; that is not a change of the directory.</summary>
        private void VisitDirectory(string path, FileStatus status)
        {
            var entry = known.GetValueOrDefault(path);
            if (IsLive(entry, EntryKind.Directory) && entry.Record.Permissions == status.Permissions) return;
            var record = new FileRecord(
                path, EntryKind.Directory, Deleted: false, Size: 0, status.ModifiedUnixNs, status.Permissions, scanner._self,
                scanner.NextVersion(entry?.Record), Sequence: 0, Content: default, Manifest: null);
            _changes.Add(new LocalEntry(record, status.Inode));
        }

        private async Task<HashOutcome> HashOneAsync(HashJob job, CancellationToken ct)
        {
            var fullPath = scanner.FullPath(job.Path);
            ScanLog.Hashing(scanner._logger, job.Path, job.Status.Size);
            Manifest manifest;
            try
            {
                // A small file is read with synchronous calls: cheaper than asynchronous ones for a few kilobytes.
                var small = job.Status.Size <= ChunkingParameters.MinSize;
                var handle = File.OpenHandle(
                    fullPath, FileMode.Open, FileAccess.Read, FileShare.ReadWrite | FileShare.Delete, small ? FileOptions.None : FileOptions.SequentialScan | FileOptions.Asynchronous);
                var stream = new FileStream(handle, FileAccess.Read, bufferSize: 0, isAsync: !small);
                await using (stream.ConfigureAwait(false))
                {
                    // Opening by name follows a symbolic link: had one replaced the file since it was examined,
                    // this would read whatever the link points to, perhaps outside the folder.
                    var opened = FileStatus.Get(handle);
                    if (opened.Kind != FileStatusKind.File || opened.Inode != job.Status.Inode) return new HashOutcome(null, ChangingReason);
                    manifest = await FileIndexer.IndexAsync(stream, null, ct).ConfigureAwait(false);
                }
            }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException or NotSupportedException)
            {
                return new HashOutcome(null, "could not be read: " + e.Message);
            }

            Interlocked.Increment(ref _filesHashed);
            Interlocked.Add(ref _bytesHashed, manifest.Size);

            // Size and times are taken from the examination before hashing; they describe the hashed bytes only if
            // nothing wrote to the file in between. A file still being written is left for a later scan.
            FileStatus? after;
            try
            {
                after = FileStatus.Get(fullPath);
            }
            catch (IOException)
            {
                after = null;
            }

            if (after != job.Status) return new HashOutcome(null, ChangingReason);

            var status = job.Status;
            var entry = job.Known;
            if (IsLive(entry, EntryKind.File) && entry.Record.Content == manifest.Id)
            {
                if (entry.Record.ModifiedUnixNs == status.ModifiedUnixNs && entry.Record.Permissions == status.Permissions)
                {
                    return new HashOutcome(new LocalEntry(entry.Record, status.Inode), null);
                }

                // Touched, not edited: the known manifest is kept so the index does not hold two equal copies.
                var touched = entry.Record with
                {
                    ModifiedUnixNs = status.ModifiedUnixNs,
                    Permissions = status.Permissions,
                    ModifiedBy = scanner._self,
                    Version = scanner.NextVersion(entry.Record),
                    Sequence = 0,
                };
                return new HashOutcome(new LocalEntry(touched, status.Inode), null);
            }

            var record = new FileRecord(
                job.Path, EntryKind.File, Deleted: false, status.Size, status.ModifiedUnixNs, status.Permissions, scanner._self,
                scanner.NextVersion(entry?.Record), Sequence: 0, manifest.Id, manifest);
            return new HashOutcome(new LocalEntry(record, status.Inode), null);
        }

        /// <summary>
        /// Every live known entry within the scan that was not found. Ignored paths are left alone: ignoring a path
        /// means no longer syncing it, not deleting it on every other device.
        /// </summary>
        private List<LocalEntry> FindDeletions()
        {
            var deletions = new List<LocalEntry>();
            var scopes = _scopes?.GetAlternateLookup<ReadOnlySpan<char>>();
            var unreadable = _unreadable.GetAlternateLookup<ReadOnlySpan<char>>();
            var now = scanner._time.GetUtcNow();
            var nowNs = (now.UtcTicks - DateTimeOffset.UnixEpoch.UtcTicks) * 100;
            foreach (var (path, entry) in known)
            {
                var record = entry.Record;
                if (record.Deleted || _seen.Contains(path)) continue;
                if (scopes is { } inScope && !IsAtOrBelowAny(inScope, path)) continue;
                if (IsAtOrBelowAny(unreadable, path) || ignore.IsIgnored(path, record.Kind == EntryKind.Directory)) continue;

                // Known is the live index: an entry recorded after its directory was listed (a pull that finished
                // during the scan) is not in the listing, yet on disk. Only a path that is not there now is deleted.
                if (!IsGone(path)) continue;
                var tombstone = record with
                {
                    Deleted = true,
                    Size = 0,
                    ModifiedUnixNs = nowNs,
                    ModifiedBy = scanner._self,
                    Version = scanner.NextVersion(record),
                    Sequence = 0,
                    Content = default,
                    Manifest = null,
                };
                deletions.Add(new LocalEntry(tombstone, 0));
            }

            return deletions;
        }

        /// <summary>
        /// True if nothing is at the path now. What is reached only through a parent that is not a real directory (a
        /// symbolic link, perhaps out of the folder) is not in the folder: gone too.
        /// </summary>
        private bool IsGone(string path)
        {
            for (var slash = path.IndexOf('/'); slash >= 0; slash = path.IndexOf('/', slash + 1))
            {
                if (!TryStat(path[..slash], out var parent)) return false;
                if (parent is not { Kind: FileStatusKind.Directory }) return true;
            }

            return TryStat(path, out var status) && status is null;
        }

        /// <summary>False (and the path reported and protected from deletion) if it could not be examined.</summary>
        private bool TryStat(string path, out FileStatus? status)
        {
            try
            {
                status = FileStatus.Get(scanner.FullPath(path));
                return true;
            }
            catch (IOException e)
            {
                Skip(path, e.Message);
                _unreadable.Add(path);
                status = null;
                return false;
            }
        }

        private void Skip(string path, string reason)
        {
            _seen.Add(path);
            _skipped.Add((path, reason));
            ScanLog.Skipped(scanner._logger, path, reason);
        }
    }
}
