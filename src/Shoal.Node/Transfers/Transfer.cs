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

    /// <summary>Stopped by the user; the partial file and its verified chunks are kept until it is resumed.</summary>
    Paused,

    /// <summary>
    /// A disk it writes to is full (<see cref="Transfer.Error"/> says which and how much room it needs); verified chunks
    /// are kept, and it carries on by itself when there is room.
    /// </summary>
    DiskFull,
}

/// <summary>One download: its lifetime, the swarm engine while it runs, and what the API reports about it.</summary>
public sealed class Transfer
{
    private const int TraceLimit = 100_000;
    private readonly Lock _gate = new();
    private readonly List<(DeviceId Peer, int Chunk)> _requestTrace = [];
    private TaskCompletionSource _progressed = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private TransferState _state = TransferState.Waiting;

    internal Transfer(FileId id, string name, string targetDirectory)
    {
        Id = id;
        Name = name;
        TargetDirectory = targetDirectory;
    }

    public FileId Id { get; }

    public string Name { get; internal set; }

    public string TargetDirectory { get; }

    public TransferState State
    {
        get => _state;
        internal set
        {
            _state = value;
            SignalProgress();
        }
    }

    public bool IsRunning => State is TransferState.Waiting or TransferState.Downloading or TransferState.DiskFull;

    /// <summary>Completes at the next verified chunk or change of state: readers of the file in order wait on it.</summary>
    public Task Progressed => Volatile.Read(ref _progressed).Task;

    public string? Error { get; internal set; }

    public string? FinalPath { get; internal set; }

    public Manifest? Manifest { get; internal set; }

    internal SwarmDownload? Swarm { get; set; }

    internal PartialDownload? Partial { get; set; }

    internal CancellationTokenSource Cancellation { get; } = new();

    internal Task Completion { get; set; } = Task.CompletedTask;

    internal bool DeletePartialOnExit { get; set; }

    internal bool PauseRequested { get; set; }

    /// <summary>Verified bytes when the download last stopped (paused, failed or restored from the catalog).</summary>
    internal long StoppedAtBytes { get; set; }

    /// <summary>Someone reads the file in order from <paramref name="from"/>: fetch those chunks first (0 chunks: no one).</summary>
    internal void Prioritise(int from, int count) => Swarm?.Prioritise(from, count);

    internal void SignalProgress() =>
        Interlocked.Exchange(ref _progressed, new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously)).TrySetResult();

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
