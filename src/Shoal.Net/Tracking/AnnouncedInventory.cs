using Shoal.Core;
using Shoal.Protocol;

namespace Shoal.Net.Tracking;

/// <summary>
/// What one tracker was last told this node holds, and so what the next announce must say: files that are new or
/// whose chunks changed, and files that went. Nothing counts as told until the tracker confirmed it (<see cref="Commit"/>),
/// so a lost request is simply said again.
/// </summary>
public sealed class AnnouncedInventory
{
    private Dictionary<FileId, byte[]?> _told = [];
    private bool _resetNeeded = true;

    /// <summary>The tracker lost track of this node (or never knew it): the next announce says everything.</summary>
    public void NeedReset() => _resetNeeded = true;

    public AnnounceDelta Next(IReadOnlyList<InventoryEntry> current)
    {
        var now = new Dictionary<FileId, byte[]?>(current.Count);
        var files = new List<FileAnnouncement>();
        foreach (var entry in current)
        {
            if (!now.TryAdd(entry.Id, entry.Chunks?.ToArray())) continue;
            if (!_resetNeeded && _told.TryGetValue(entry.Id, out var before) && SameChunks(before, entry.Chunks)) continue;
            files.Add(new FileAnnouncement(
                entry.Id.ToString(),
                entry.Name,
                entry.Size,
                entry.ChunkCount,
                entry.Chunks is null ? null : Convert.ToBase64String(entry.Chunks.AsSpan())));
        }

        if (!_resetNeeded)
        {
            foreach (var (id, _) in _told)
            {
                if (!now.ContainsKey(id)) files.Add(new FileAnnouncement(id.ToString(), "", 0, 1, Removed: true));
            }
        }

        return new AnnounceDelta(_resetNeeded, files, now);
    }

    /// <summary>The tracker accepted <paramref name="delta"/>: it now knows exactly that state.</summary>
    public void Commit(AnnounceDelta delta)
    {
        _told = delta.State;
        _resetNeeded = false;
    }

    private static bool SameChunks(byte[]? told, Bitfield? now) =>
        told is null ? now is null : now is not null && now.AsSpan().SequenceEqual(told);
}

/// <summary>One announce's worth of change, and the state the tracker holds once it is accepted.</summary>
public sealed record AnnounceDelta(bool Reset, IReadOnlyList<FileAnnouncement> Files, Dictionary<FileId, byte[]?> State)
{
    public bool IsEmpty => !Reset && Files.Count == 0;
}
