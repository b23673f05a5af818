using Shoal.Core;
using Shoal.Core.Folder;
using Shoal.Storage;
using Shoal.Sync;

namespace Shoal.Node.Folder;

/// <summary>
/// The folder's files by content: lets peers fetch a folder file by its id, and lets a pull copy chunks this node
/// already has (in any file) instead of downloading them. Mirrors the live files of the local index.
/// </summary>
internal sealed class FolderContent(string root)
{
    private readonly Lock _gate = new();
    private readonly Dictionary<string, FileRecord> _byPath = new(StringComparer.Ordinal);
    private readonly Dictionary<FileId, HashSet<string>> _byContent = [];
    private readonly Dictionary<Hash256, (string Path, int Index)> _byChunk = [];

    public void Set(FileRecord record)
    {
        lock (_gate)
        {
            Remove(record.Path);
            if (record.Deleted || !record.IsFile || record.Manifest is null) return;
            _byPath[record.Path] = record;
            if (!_byContent.TryGetValue(record.Content, out var paths)) _byContent[record.Content] = paths = new HashSet<string>(StringComparer.Ordinal);
            paths.Add(record.Path);
            for (var i = 0; i < record.Manifest.ChunkCount; i++) _byChunk.TryAdd(record.Manifest[i].Hash, (record.Path, i));
        }
    }

    private void Remove(string path)
    {
        if (!_byPath.Remove(path, out var old)) return;
        if (_byContent.TryGetValue(old.Content, out var paths) && paths.Remove(path) && paths.Count == 0) _byContent.Remove(old.Content);
        foreach (var chunk in old.Manifest!.Chunks)
        {
            if (_byChunk.TryGetValue(chunk.Hash, out var at) && at.Path == path) _byChunk.Remove(chunk.Hash);
        }
    }

    public Manifest? FindManifest(FileId content)
    {
        lock (_gate) return _byContent.TryGetValue(content, out var paths) ? _byPath[paths.First()].Manifest : null;
    }

    /// <summary>A folder file with this content, as the reader needs it (its size and write time detect edits).</summary>
    public LocalFile? Find(FileId content)
    {
        FileRecord record;
        lock (_gate)
        {
            if (!_byContent.TryGetValue(content, out var paths)) return null;
            record = _byPath[paths.First()];
        }

        return AsLocalFile(record);
    }

    /// <summary>Where this node already has a chunk with this hash, if anywhere in the folder.</summary>
    public (LocalFile File, int Index)? FindChunk(Hash256 hash)
    {
        FileRecord record;
        int index;
        lock (_gate)
        {
            if (!_byChunk.TryGetValue(hash, out var at)) return null;
            record = _byPath[at.Path];
            index = at.Index;
        }

        return (AsLocalFile(record), index);
    }

    private LocalFile AsLocalFile(FileRecord record) => new(
        record.Content,
        Path.GetFileName(record.Path),
        record.Size,
        record.Manifest!,
        FolderPath.ToFullPath(root, record.Path),
        record.ModifiedUtc,
        LocalFileKind.Shared,
        record.ModifiedAt);
}
