using Shoal.Core;
using Shoal.Storage;
using Shoal.Swarm;

namespace Shoal.Node.Transfers;

public enum TransferState
{
    /// <summary>No online node has announced the file (or its manifest is not known yet).</summary>
    Waiting,
    Downloading,
    Completed,
    Failed,
    Cancelled,
}

/// <summary>One download: its lifetime, the swarm engine while it runs, and what the API reports about it.</summary>
public sealed class Transfer
{
    private const int TraceLimit = 100_000;
    private readonly Lock _gate = new();
    private readonly List<(DeviceId Peer, int Chunk)> _requestTrace = [];

    internal Transfer(FileId id, string name, string targetDirectory)
    {
        Id = id;
        Name = name;
        TargetDirectory = targetDirectory;
    }

    public FileId Id { get; }

    public string Name { get; internal set; }

    public string TargetDirectory { get; }

    public TransferState State { get; internal set; } = TransferState.Waiting;

    public string? Error { get; internal set; }

    public string? FinalPath { get; internal set; }

    public Manifest? Manifest { get; internal set; }

    internal SwarmDownload? Swarm { get; set; }

    internal PartialDownload? Partial { get; set; }

    internal CancellationTokenSource Cancellation { get; } = new();

    internal Task Completion { get; set; } = Task.CompletedTask;

    internal bool DeletePartialOnExit { get; set; }

    public DateTimeOffset StartedAt { get; } = DateTimeOffset.UtcNow;

    public DownloadProgress? Progress => Swarm?.Snapshot();

    internal void RecordRequest(DeviceId peer, int chunk)
    {
        lock (_gate)
        {
            if (_requestTrace.Count < TraceLimit) _requestTrace.Add((peer, chunk));
        }
    }

    /// <summary>Which chunk was asked of which peer, in order: lets a user (and the tests) see the picker at work.</summary>
    public IReadOnlyList<(DeviceId Peer, int Chunk)> RequestTrace()
    {
        lock (_gate)
        {
            return [.. _requestTrace];
        }
    }
}
