using Microsoft.Extensions.Logging;
using Shoal.Net.Connections;
using Shoal.Node.Folder;
using Shoal.Node.Home;
using Shoal.Node.Replication;

namespace Shoal.Node;

/// <summary>How to run a node: its home plus the <c>shoal up</c> flags that override the home's config for this run.</summary>
public sealed record NodeOptions(NodeHome Home)
{
    public string? Listen { get; init; }

    public string? Api { get; init; }

    public IReadOnlyList<string> Peers { get; init; } = [];

    /// <summary>Tracker URLs, used together with the config's.</summary>
    public IReadOnlyList<string> Trackers { get; init; } = [];

    public string? Folder { get; init; }

    public bool? Discovery { get; init; }

    public int? DiscoveryPort { get; init; }

    /// <summary>Replaces the config's allowed subnets when not empty.</summary>
    public IReadOnlyList<string> AllowSubnets { get; init; } = [];

    public long? UploadLimit { get; init; }

    public long? DownloadLimit { get; init; }

    /// <summary>Overrides the config's <c>maxPeers</c> for this run.</summary>
    public int? MaxPeers { get; init; }

    public FolderOptions FolderOptions { get; init; } = new();

    public long? StoreQuota { get; init; }

    public PutOptions PutOptions { get; init; } = new();

    /// <summary>Overrides the config's <c>downAfterSeconds</c> (and <see cref="PutOptions"/>'s) for this run.</summary>
    public TimeSpan? DownAfter { get; init; }

    /// <summary>Pings and the silence that closes a link; tests shorten them to see a stalled link recover quickly.</summary>
    public KeepAlive KeepAlive { get; init; } = KeepAlive.Default;

    public TimeProvider Time { get; init; } = TimeProvider.System;

    public ILoggerFactory? LoggerFactory { get; init; }
}
