using System.Collections.Concurrent;
using Microsoft.Extensions.Logging;
using Shoal.Core;
using Shoal.Net.Connections;
using Shoal.Protocol;
using Shoal.Storage;

namespace Shoal.Node.Content;

/// <summary>A download in progress that can already serve the chunks it has verified.</summary>
public interface IPartialSource
{
    Manifest Manifest { get; }

    string Name { get; }

    Bitfield VerifiedSnapshot();

    bool IsVerified(int index);

    ValueTask ReadChunkAsync(int index, Memory<byte> destination, CancellationToken cancellationToken);
}

/// <summary>
/// Everything this node can serve: files shared or downloaded (read from where they are, never copied) and
/// partial downloads. A shared file that changed since it was indexed is re-indexed, never served as the old one.
/// </summary>
public sealed class Library : IDisposable
{
    private readonly Catalog _catalog;
    private readonly LocalFileReader _reader;
    private readonly ILogger _logger;
    private readonly ConcurrentDictionary<FileId, LocalFile> _files = new();
    private readonly ConcurrentDictionary<FileId, IPartialSource> _partials = new();
    private readonly ConcurrentDictionary<string, Task> _reindexing = new();

    public Library(Catalog catalog, TimeProvider time, ILogger logger)
    {
        _catalog = catalog;
        _logger = logger;
        _reader = new LocalFileReader(time);
        foreach (var file in catalog.ListLocalFiles()) _files[file.Id] = file;
    }

    /// <summary>Raised when this node starts or stops offering a file; the node tells its peers.</summary>
    public event Action<InventoryEntry>? Offered;

    public event Action<FileId>? Withdrawn;

    public IReadOnlyCollection<LocalFile> LocalFiles => [.. _files.Values];

    public LocalFile? GetLocal(FileId id) => _files.TryGetValue(id, out var file) ? file : null;

    public async Task<IReadOnlyList<LocalFile>> ShareAsync(IEnumerable<string> paths, IProgress<long>? progress, CancellationToken cancellationToken)
    {
        var shared = new List<LocalFile>();
        foreach (var path in ExpandPaths(paths))
        {
            shared.Add(await IndexAndAddAsync(path, LocalFileKind.Shared, progress, cancellationToken).ConfigureAwait(false));
        }

        return shared;
    }

    public static IEnumerable<string> ExpandPaths(IEnumerable<string> paths)
    {
        foreach (var raw in paths)
        {
            var path = Path.GetFullPath(raw);
            if (Directory.Exists(path))
            {
                foreach (var file in Directory.EnumerateFiles(path, "*", SearchOption.AllDirectories).Order(StringComparer.Ordinal))
                {
                    yield return file;
                }
            }
            else if (File.Exists(path))
            {
                yield return path;
            }
            else
            {
                throw new FileNotFoundException($"{raw}: no such file or directory", raw);
            }
        }
    }

    public async Task<LocalFile> IndexAndAddAsync(string path, LocalFileKind kind, IProgress<long>? progress, CancellationToken cancellationToken)
    {
        var before = new FileInfo(path);
        var manifest = await FileIndexer.IndexFileAsync(path, progress, cancellationToken).ConfigureAwait(false);
        var after = new FileInfo(path);
        if (after.Length != before.Length || after.LastWriteTimeUtc != before.LastWriteTimeUtc)
        {
            throw new IOException($"{path} changed while it was being indexed; try again once it is no longer being written");
        }

        var file = new LocalFile(manifest.Id, Path.GetFileName(path), manifest.Size, manifest, path, after.LastWriteTimeUtc, kind, DateTimeOffset.UtcNow);
        Add(file);
        return file;
    }

    public void Add(LocalFile file)
    {
        foreach (var stale in _files.Values.Where(f => f.Path == file.Path && f.Id != file.Id).ToList())
        {
            Remove(stale.Id);
        }

        _catalog.UpsertLocalFile(file);
        _files[file.Id] = file;
        Offered?.Invoke(new InventoryEntry(file.Id, file.Name, file.Size, file.Manifest.ChunkCount, null));
    }

    public bool Remove(FileId id)
    {
        var removed = _files.TryRemove(id, out _);
        _catalog.RemoveLocalFile(id);
        if (removed && !_partials.ContainsKey(id)) Withdrawn?.Invoke(id);
        return removed;
    }

    /// <summary>Peers learn of a download at once, so they can fetch its chunks while it is still incomplete.</summary>
    public void AddPartial(IPartialSource partial)
    {
        _partials[partial.Manifest.Id] = partial;
        if (_files.ContainsKey(partial.Manifest.Id)) return;
        var verified = partial.VerifiedSnapshot();
        Offered?.Invoke(new InventoryEntry(partial.Manifest.Id, partial.Name, partial.Manifest.Size, partial.Manifest.ChunkCount, verified.IsComplete ? null : verified));
    }

    public void RemovePartial(FileId id)
    {
        if (_partials.TryRemove(id, out _) && !_files.ContainsKey(id)) Withdrawn?.Invoke(id);
    }

    public IPartialSource? GetPartial(FileId id) => _partials.TryGetValue(id, out var partial) ? partial : null;

    /// <summary>Complete files first: the peer learns about partial files with a bitfield.</summary>
    public IReadOnlyList<InventoryEntry> Inventory()
    {
        var entries = _files.Values
            .Select(f => new InventoryEntry(f.Id, f.Name, f.Size, f.Manifest.ChunkCount, null))
            .ToList();
        foreach (var partial in _partials.Values.Where(p => !_files.ContainsKey(p.Manifest.Id)))
        {
            var verified = partial.VerifiedSnapshot();
            entries.Add(new InventoryEntry(partial.Manifest.Id, partial.Name, partial.Manifest.Size, partial.Manifest.ChunkCount, verified.IsComplete ? null : verified));
        }

        return entries;
    }

    public Manifest? FindManifest(FileId id) =>
        _files.TryGetValue(id, out var file) ? file.Manifest
        : _partials.TryGetValue(id, out var partial) ? partial.Manifest
        : null;

    public async ValueTask ReadChunkAsync(FileId id, int index, Memory<byte> destination, CancellationToken cancellationToken)
    {
        if (_files.TryGetValue(id, out var file))
        {
            try
            {
                await _reader.ReadChunkAsync(file, index, destination, cancellationToken).ConfigureAwait(false);
                return;
            }
            catch (FileChangedException)
            {
                Reindex(file);
                throw new ChunkServeException(ErrorCode.FileChanged, $"'{file.Name}' changed at its source since it was shared; its new content has a new link");
            }
            catch (FileNotFoundException)
            {
                Remove(id);
                throw new ChunkServeException(ErrorCode.NotFound, $"'{file.Name}' is no longer at its source");
            }
        }

        if (_partials.TryGetValue(id, out var partial))
        {
            if (!partial.IsVerified(index)) throw new ChunkServeException(ErrorCode.ChunkUnavailable, "this node does not have that chunk yet");
            await partial.ReadChunkAsync(index, destination, cancellationToken).ConfigureAwait(false);
            return;
        }

        throw new ChunkServeException(ErrorCode.NotFound, "this node does not have that file");
    }

    /// <summary>The old id is withdrawn at once; the new content is offered under its own id when indexed.</summary>
    private void Reindex(LocalFile stale)
    {
        if (!_files.TryRemove(stale.Id, out _)) return;
        _catalog.RemoveLocalFile(stale.Id);
        Withdrawn?.Invoke(stale.Id);
        _reindexing.GetOrAdd(stale.Path, path => Task.Run(async () =>
        {
            try
            {
                if (!File.Exists(path)) return;
                var file = await IndexAndAddAsync(path, stale.Kind, null, CancellationToken.None).ConfigureAwait(false);
                _logger.LogInformation("{Path} changed; re-indexed as {Link}", path, new ShoalLink(file.Id, file.Name));
            }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException)
            {
                _logger.LogWarning("{Path} changed and could not be re-indexed: {Error}", path, e.Message);
            }
            finally
            {
                _reindexing.TryRemove(path, out _);
            }
        }));
    }

    public void Dispose() => _reader.Dispose();
}
