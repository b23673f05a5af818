namespace Shoal.Core;

/// <summary>Content-defined chunk sizes. Part of the file id's definition: changing them changes every id.</summary>
public static class ChunkingParameters
{
    public const int MinSize = 256 * 1024;
    public const int AverageSize = 1024 * 1024;
    public const int MaxSize = 4 * 1024 * 1024;
}
