using Shoal.Core;

namespace Shoal.Swarm;

/// <summary>
/// The uploading side of a swarm: decides whether a node sends a requested chunk now or answers "busy", so that when
/// several peers download a file from it at once its upload goes to chunks it has sent least, and every chunk leaves
/// once before any leaves twice (as a BitTorrent super-seed does). The peers that got a chunk pass it on; a peer
/// told "busy" fetches it from them (<see cref="ChunkBusyException"/>) or asks again later.
/// </summary>
/// <remarks>
/// <para>
/// Downloaders pick rarest first with random tie-breaks, but they cannot see each other's requests in flight, so
/// several ask the source for the same chunk, and a downloader that has nothing rare left to ask for asks it for
/// chunks others already hold. With the source's upload the bottleneck, each such copy delays everyone.
/// </para>
/// <para>
/// The rule: a request from peer P for chunk c, already sent n &gt; 0 times, is refused while another peer is being
/// sent (admitted and not yet written out, or written out less than <see cref="Recent"/> ago) a chunk that had been sent fewer
/// than n times, provided P has shown it has other sources: it holds more chunks of the file than this node sent it.
/// A peer that got everything it holds from here may reach no one else (32 sinks that know only the seed): refusing
/// it would only idle it and hold back those waiting for its place. A lone downloader is never refused; nor is anyone
/// once no less-sent chunk is wanted (the tail of a download), since the upload would otherwise idle. A file's counts
/// are forgotten once nothing of it was admitted for <see cref="IdleReset"/>, so a later crowd starts afresh.
/// </para>
/// Thread-safe; pure apart from reading the clock it is given.
/// </remarks>
public sealed class ServeOrder(TimeProvider time)
{
    private readonly TimeProvider _time = time;

    /// <summary>How long an admission still counts as work under way after its frame was written to the network.</summary>
    public static readonly TimeSpan Recent = TimeSpan.FromSeconds(1);

    /// <summary>A file whose chunks were not admitted for this long is forgotten.</summary>
    public static readonly TimeSpan IdleReset = TimeSpan.FromMinutes(1);

    private readonly Lock _lock = new();
    private readonly Dictionary<FileId, FileState> _files = [];
    private long _lastSweep;

    /// <summary>Files with counts kept (for tests).</summary>
    public int TrackedFiles
    {
        get
        {
            lock (_lock) return _files.Count;
        }
    }

    /// <summary>How many times the chunk was admitted since its file was last forgotten.</summary>
    public int SentCount(FileId file, int chunk)
    {
        lock (_lock)
        {
            return _files.TryGetValue(file, out var state) ? state.Sent.GetValueOrDefault(chunk) : 0;
        }
    }

    /// <summary>
    /// Admits the request (returns a lease to dispose once the chunk's frame has been written out, or the serve
    /// ended without it) or refuses it (null: answer "busy"). <paramref name="requesterHolds"/>: how many of the file's
    /// chunks the requester says it holds (its inventory and have messages).
    /// </summary>
    public IDisposable? TryAdmit(FileId file, int chunk, DeviceId requester, int requesterHolds)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(chunk);
        var now = _time.GetTimestamp();
        lock (_lock)
        {
            SweepLocked(now);
            if (!_files.TryGetValue(file, out var state))
            {
                state = new FileState();
                _files.Add(file, state);
            }

            state.Prune(_time, now);
            var sent = state.Sent.GetValueOrDefault(chunk);
            var sentToRequester = state.SentTo.GetValueOrDefault(requester);
            if (sent > 0 && requesterHolds > sentToRequester)
            {
                foreach (var other in state.Admissions)
                {
                    if (other.Rank < sent && other.Requester != requester) return null;
                }
            }

            var admission = new Admission(this, requester, sent);
            state.Sent[chunk] = sent + 1;
            state.SentTo[requester] = sentToRequester + 1;
            state.Admissions.Add(admission);
            state.LastAdmitted = now;
            return admission;
        }
    }

    private void SweepLocked(long now)
    {
        if (_time.GetElapsedTime(_lastSweep, now) < IdleReset) return;
        _lastSweep = now;
        List<FileId>? idle = null;
        foreach (var (file, state) in _files)
        {
            state.Prune(_time, now);
            if (state.Admissions.Count == 0 && _time.GetElapsedTime(state.LastAdmitted, now) >= IdleReset) (idle ??= []).Add(file);
        }

        foreach (var file in idle ?? [])
        {
            _files.Remove(file);
        }
    }

    private sealed class FileState
    {
        public Dictionary<int, int> Sent { get; } = [];

        /// <summary>Chunks admitted per requester: what it holds beyond that came from elsewhere.</summary>
        public Dictionary<DeviceId, int> SentTo { get; } = [];

        /// <summary>Admissions still under way or recent: what the refusal rule compares with.</summary>
        public List<Admission> Admissions { get; } = [];

        public long LastAdmitted { get; set; }

        public void Prune(TimeProvider time, long now) =>
            Admissions.RemoveAll(a => a.Written is { } written && time.GetElapsedTime(written, now) >= Recent);
    }

    private sealed class Admission(ServeOrder owner, DeviceId requester, int rank) : IDisposable
    {
        public DeviceId Requester { get; } = requester;

        /// <summary>How many times the chunk had been sent before this admission.</summary>
        public int Rank { get; } = rank;

        /// <summary>When the frame was written out (or the serve ended); null while under way.</summary>
        public long? Written { get; private set; }

        public void Dispose()
        {
            var now = owner._time.GetTimestamp();
            lock (owner._lock)
            {
                Written ??= now;
            }
        }
    }
}
