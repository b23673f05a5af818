using Microsoft.Extensions.Logging;

namespace Shoal.Swarm;

internal static partial class SwarmLog
{
    [LoggerMessage(Level = LogLevel.Debug, Message = "Swarm {File}: peer {Peer} ({Name}) holds {Count} chunks")]
    public static partial void PeerUpdated(ILogger logger, string file, string peer, string name, int count);

    [LoggerMessage(Level = LogLevel.Debug, Message = "Swarm {File}: peer {Peer} removed; {Count} outstanding requests cancelled and requeued")]
    public static partial void PeerRemoved(ILogger logger, string file, string peer, int count);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Swarm {File}: peer {Peer} failed while fetching chunk {Index}; dropping it")]
    public static partial void PeerFailed(ILogger logger, Exception exception, string file, string peer, int index);

    [LoggerMessage(Level = LogLevel.Debug, Message = "Swarm {File}: peer {Peer} cannot serve chunk {Index}")]
    public static partial void ChunkUnavailable(ILogger logger, string file, string peer, int index);

    [LoggerMessage(Level = LogLevel.Trace, Message = "Swarm {File}: peer {Peer} is busy with chunk {Index}; asking others")]
    public static partial void ChunkBusy(ILogger logger, string file, string peer, int index);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Swarm {File}: chunk {Index} from peer {Peer} failed verification; discarded")]
    public static partial void BadData(ILogger logger, string file, int index, string peer);

    [LoggerMessage(Level = LogLevel.Error, Message = "Swarm {File}: download failed")]
    public static partial void Failed(ILogger logger, Exception exception, string file);

    [LoggerMessage(Level = LogLevel.Information, Message = "Swarm {File}: all {Count} chunks verified")]
    public static partial void Completed(ILogger logger, string file, int count);
}
