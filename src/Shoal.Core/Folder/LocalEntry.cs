namespace Shoal.Core.Folder;

/// <summary>
/// A record of this node's own index, with what the scanner compares to notice a change without re-hashing:
/// size and modification time are in the record, the inode is here (it means nothing to other nodes).
/// </summary>
public sealed record LocalEntry(FileRecord Record, ulong Inode);
