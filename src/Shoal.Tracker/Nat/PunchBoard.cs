using Shoal.Net.Tracking;

namespace Shoal.Tracker.Nat;

/// <summary>
/// Where the tracker coordinates hole punching: who of a network is long-polling for signals right now, from which
/// public address (the NAT's mapping of its listen port), and the punch requests waiting for them. Kept in memory: a
/// poll is a live connection to this tracker, so nothing of it outlives the process. Bounded: at most
/// <see cref="MaxPollers"/> devices and <see cref="MaxQueued"/> signals each.
/// </summary>
internal sealed class PunchBoard(TimeProvider time)
{
    public const int MaxPollers = 100_000;
    public const int MaxQueued = 8;

    /// <summary>Long enough for both answers to arrive, short enough that both SYNs leave at about the same moment.</summary>
    public static readonly TimeSpan Delay = TimeSpan.FromMilliseconds(300);

    /// <summary>A device that stopped polling this long ago cannot be punched to: its NAT mapping may be gone.</summary>
    public static readonly TimeSpan Freshness = TimeSpan.FromSeconds(30);

    private readonly Lock _gate = new();
    private readonly Dictionary<(string Network, string Device), Poller> _pollers = [];

    public int Count
    {
        get
        {
            lock (_gate) return _pollers.Count;
        }
    }

    /// <summary>Registers a poll from <paramref name="observed"/> and waits up to <paramref name="wait"/> for signals to it.</summary>
    public async Task<IReadOnlyList<PunchSignal>> WaitAsync(string network, string device, string observed, TimeSpan wait, CancellationToken cancellationToken)
    {
        Poller poller;
        lock (_gate)
        {
            if (!_pollers.TryGetValue((network, device), out poller!))
            {
                if (_pollers.Count >= MaxPollers) Sweep();
                if (_pollers.Count >= MaxPollers) throw new InvalidRequestException("the tracker has too many devices waiting for signals; try later");
                poller = new Poller();
                _pollers[(network, device)] = poller;
            }

            poller.Address = observed;
            poller.Polls++;
            poller.Seen = time.GetUtcNow();
            if (poller.Queue.Count == 0) poller.Wake = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        }

        try
        {
            await Task.WhenAny(poller.Wake.Task, Task.Delay(wait, time, cancellationToken)).ConfigureAwait(false);
            lock (_gate)
            {
                var signals = poller.Queue.ToList();
                poller.Queue.Clear();
                return signals;
            }
        }
        finally
        {
            lock (_gate)
            {
                poller.Polls--;
                poller.Seen = time.GetUtcNow();
            }
        }
    }

    /// <summary>
    /// Signals <paramref name="target"/> to dial <paramref name="from"/>, and returns where <paramref name="from"/> is to
    /// dial it; both must be polling (or have polled within <see cref="Freshness"/>).
    /// </summary>
    public PunchResponse Punch(string network, string from, string target)
    {
        lock (_gate)
        {
            var now = time.GetUtcNow();
            if (!_pollers.TryGetValue((network, from), out var self) || !IsFresh(self, now))
            {
                return new PunchResponse(null, 0, "poll for signals first: the tracker does not know where your listen port is");
            }

            if (!_pollers.TryGetValue((network, target), out var other) || !IsFresh(other, now))
            {
                return new PunchResponse(null, 0, "that device is not polling this tracker for signals");
            }

            if (other.Queue.Count >= MaxQueued) other.Queue.Dequeue();
            other.Queue.Enqueue(new PunchSignal(from, self.Address, (int)Delay.TotalMilliseconds));
            other.Wake.TrySetResult();
            return new PunchResponse(other.Address, (int)Delay.TotalMilliseconds, null);
        }
    }

    private bool IsFresh(Poller poller, DateTimeOffset now) => poller.Polls > 0 || now - poller.Seen < Freshness;

    private void Sweep()
    {
        var now = time.GetUtcNow();
        foreach (var key in _pollers.Where(p => !IsFresh(p.Value, now)).Select(p => p.Key).ToList()) _pollers.Remove(key);
    }

    private sealed class Poller
    {
        public string Address { get; set; } = "";

        public int Polls { get; set; }

        public DateTimeOffset Seen { get; set; }

        public Queue<PunchSignal> Queue { get; } = new();

        public TaskCompletionSource Wake { get; set; } = new(TaskCreationOptions.RunContinuationsAsynchronously);
    }
}
