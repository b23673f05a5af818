using Microsoft.Extensions.Logging;

namespace Shoal.Sync.Scanning;

internal static partial class ScanLog
{
    [LoggerMessage(Level = LogLevel.Debug, Message = "Hashing {Path} ({Size} bytes)")]
    public static partial void Hashing(ILogger logger, string path, long size);

    [LoggerMessage(Level = LogLevel.Debug, Message = "Skipped {Path}: {Reason}")]
    public static partial void Skipped(ILogger logger, string path, string reason);

    [LoggerMessage(Level = LogLevel.Debug, Message = "Scanned {Root}: {Changes} changes, {Skipped} skipped, {Files} files ({Bytes} bytes) hashed")]
    public static partial void Scanned(ILogger logger, string root, int changes, int skipped, int files, long bytes);
}
