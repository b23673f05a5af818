using System.Diagnostics;
using System.Numerics;
using Shoal.Core;

namespace Shoal.Swarm;

/// <summary>
/// Decides which chunk to ask a peer for next: rarest first among chunks the peer holds that nobody has been asked
/// for, ties broken at random; once a peer holds nothing unrequested (endgame) it may duplicate a request that is
/// already out with another peer. Not thread-safe: the download engine serialises access.
/// </summary>
/// <remarks>
/// Operations that name a peer that is not registered are no-ops (except <see cref="Exclude"/>, which outlives the
/// registration), so a late report about a departed peer cannot corrupt the bookkeeping.
/// </remarks>
public sealed class PiecePicker
{
    /// <summary>At most this many requests for one chunk are outstanding at once, counting the original.</summary>
    public const int MaxDuplicates = 2;

    private const int WordBits = 64;

    private readonly Random _random;
    private readonly int _wordCount;
    private readonly bool[] _done;
    private readonly int[] _availability;

    // _levels[a] holds, as a bit set, every pickable chunk (not done, not requested) held by exactly a peers.
    // A pick ANDs the peer's have-set with the lowest levels first, so finding the rarest candidates costs
    // O(levels × chunks / 64) word operations and never a per-chunk scan.
    private readonly List<ulong[]> _levels = [];
    private readonly List<int> _levelCounts = [];

    private readonly Dictionary<DeviceId, PeerState> _peers = [];
    private readonly Dictionary<int, List<PeerState>> _inFlight = [];
    private readonly Dictionary<DeviceId, HashSet<int>> _excluded = [];
    private readonly Dictionary<DeviceId, HashSet<int>> _deferred = [];
    private readonly List<int> _ties = [];
    private int _priorityFrom;
    private int _priorityEnd;

    public PiecePicker(int chunkCount, Bitfield verified, Random random)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(chunkCount);
        ArgumentNullException.ThrowIfNull(verified);
        ArgumentNullException.ThrowIfNull(random);
        if (verified.Length != chunkCount)
        {
            throw new ArgumentException($"The verified set covers {verified.Length} chunks, not {chunkCount}.", nameof(verified));
        }

        ChunkCount = chunkCount;
        _random = random;
        _wordCount = (chunkCount + WordBits - 1) / WordBits;
        _done = new bool[chunkCount];
        _availability = new int[chunkCount];
        EnsureLevel(0);
        for (var i = 0; i < chunkCount; i++)
        {
            if (verified[i])
            {
                _done[i] = true;
                DoneCount++;
            }
            else
            {
                AddToLevel(i);
            }
        }
    }

    public int ChunkCount { get; }

    public int DoneCount { get; private set; }

    public int RemainingCount => ChunkCount - DoneCount;

    /// <summary>Distinct chunks with at least one request outstanding.</summary>
    public int InFlightCount => _inFlight.Count;

    public int PeerCount => _peers.Count;

    public bool IsComplete => DoneCount == ChunkCount;

    public bool IsDone(int index)
    {
        CheckIndex(index);
        return _done[index];
    }

    /// <summary>How many registered peers hold the chunk (excluded holders do not count).</summary>
    public int Availability(int index)
    {
        CheckIndex(index);
        return _availability[index];
    }

    /// <summary>How many peers currently have the chunk outstanding.</summary>
    public int RequestCount(int index)
    {
        CheckIndex(index);
        return _inFlight.TryGetValue(index, out var requesters) ? requesters.Count : 0;
    }

    /// <summary>Registers a peer or replaces what it is known to hold; its outstanding requests are kept.</summary>
    public void AddPeer(DeviceId peer, Bitfield have)
    {
        ArgumentNullException.ThrowIfNull(have);
        if (have.Length != ChunkCount)
        {
            throw new ArgumentException($"The peer's bitfield covers {have.Length} chunks, not {ChunkCount}.", nameof(have));
        }

        if (!_peers.TryGetValue(peer, out var state))
        {
            state = new PeerState(peer, _wordCount);
            _peers.Add(peer, state);
        }

        _excluded.TryGetValue(peer, out var excluded);
        _deferred.TryGetValue(peer, out var deferred);
        for (var i = 0; i < ChunkCount; i++)
        {
            SetHas(state, i, have[i] && excluded?.Contains(i) != true && deferred?.Contains(i) != true);
        }
    }

    public void PeerHas(DeviceId peer, int index)
    {
        CheckIndex(index);
        if (!_peers.TryGetValue(peer, out var state)) return;
        if (_excluded.TryGetValue(peer, out var excluded) && excluded.Contains(index)) return;
        if (_deferred.TryGetValue(peer, out var deferred) && deferred.Contains(index)) return;
        SetHas(state, index, true);
    }

    /// <summary>
    /// The peer holds the chunk but asks to be spared it for now (it is busy sending it to others, who will pass it
    /// on): it stops counting as a holder and its request, if any, is dropped, until <see cref="Resume"/>. Meanwhile
    /// the chunk is picked from other holders, rarest first as usual (it is rarer now).
    /// </summary>
    public void Defer(DeviceId peer, int index)
    {
        CheckIndex(index);
        if (!_peers.TryGetValue(peer, out var state)) return;
        if (!_deferred.TryGetValue(peer, out var deferred))
        {
            deferred = [];
            _deferred.Add(peer, deferred);
        }

        deferred.Add(index);
        SetHas(state, index, false);
        EndRequest(state, index);
    }

    /// <summary>Ends a <see cref="Defer"/>: the peer holds the chunk again (unless excluded meanwhile). A no-op otherwise.</summary>
    public void Resume(DeviceId peer, int index)
    {
        CheckIndex(index);
        if (!_deferred.TryGetValue(peer, out var deferred) || !deferred.Remove(index)) return;
        if (deferred.Count == 0) _deferred.Remove(peer);
        if (!_peers.TryGetValue(peer, out var state)) return;
        if (_excluded.TryGetValue(peer, out var excluded) && excluded.Contains(index)) return;
        SetHas(state, index, true);
    }

    /// <summary>The peer cannot serve the chunk: it stops counting as a holder and its request, if any, is dropped.</summary>
    public void PeerLacks(DeviceId peer, int index)
    {
        CheckIndex(index);
        if (!_peers.TryGetValue(peer, out var state)) return;
        if (_deferred.TryGetValue(peer, out var deferred) && deferred.Remove(index) && deferred.Count == 0) _deferred.Remove(peer);
        SetHas(state, index, false);
        EndRequest(state, index);
    }

    /// <summary>
    /// Like <see cref="PeerLacks"/>, but permanent for this picker: later announcements or a reconnect do not make
    /// the peer a holder again. Used when the peer sent data that failed verification.
    /// </summary>
    public void Exclude(DeviceId peer, int index)
    {
        CheckIndex(index);
        if (!_excluded.TryGetValue(peer, out var excluded))
        {
            excluded = [];
            _excluded.Add(peer, excluded);
        }

        excluded.Add(index);
        PeerLacks(peer, index);
    }

    /// <summary>Forgets the peer; the chunks it had outstanding go back to the pool and are returned, ascending.</summary>
    public IReadOnlyList<int> RemovePeer(DeviceId peer)
    {
        if (!_peers.Remove(peer, out var state)) return [];
        _deferred.Remove(peer);
        var released = state.InFlight.Order().ToArray();
        foreach (var index in released)
        {
            EndRequest(state, index);
        }

        for (var word = 0; word < _wordCount; word++)
        {
            for (var bits = state.Have[word]; bits != 0; bits &= bits - 1)
            {
                ChangeAvailability((word * WordBits) + BitOperations.TrailingZeroCount(bits), -1);
            }
        }

        return released;
    }

    /// <summary>
    /// Picks the next chunk to request from <paramref name="peer"/> and records the request. Rarest first among the
    /// peer's unrequested chunks; among equally rare ones, listed by ascending index, the one at
    /// <c>random.Next(count)</c>. In endgame, a chunk requested elsewhere with the fewest outstanding requests,
    /// chosen the same way.
    /// </summary>
    public bool TryPick(DeviceId peer, out int index)
    {
        index = -1;
        if (!_peers.TryGetValue(peer, out var state)) return false;
        if (TryPickPriority(state, out index)) return true;

        for (var level = 1; level < _levels.Count; level++)
        {
            if (_levelCounts[level] == 0) continue;
            var candidates = _levels[level];
            var count = 0;
            for (var word = 0; word < _wordCount; word++)
            {
                count += BitOperations.PopCount(candidates[word] & state.Have[word]);
            }

            if (count == 0) continue;
            index = SelectNth(candidates, state.Have, _random.Next(count));
            AddRequest(state, index);
            return true;
        }

        return TryPickDuplicate(state, out index);
    }

    /// <summary>
    /// Records the chunk as done. Returns the other peers that still have it outstanding so their requests can be
    /// cancelled; empty if the chunk was already done. The sender need not be registered any more.
    /// </summary>
    public IReadOnlyList<DeviceId> MarkReceived(DeviceId peer, int index)
    {
        CheckIndex(index);
        if (_done[index]) return [];
        _done[index] = true;
        DoneCount++;
        if (!_inFlight.Remove(index, out var requesters))
        {
            RemoveFromLevel(index);
            return [];
        }

        var others = new List<DeviceId>(requesters.Count);
        foreach (var requester in requesters)
        {
            requester.InFlight.Remove(index);
            if (requester.Id != peer) others.Add(requester.Id);
        }

        return others;
    }

    /// <summary>The peer's request for the chunk ended without data; the chunk returns to the pool if nobody else has it out.</summary>
    public void MarkFailed(DeviceId peer, int index)
    {
        CheckIndex(index);
        if (_peers.TryGetValue(peer, out var state)) EndRequest(state, index);
    }

    /// <summary>
    /// Chunks in [<paramref name="from"/>, <paramref name="from"/> + <paramref name="count"/>) go first, lowest index
    /// first, whatever their rarity: someone reads the file in order (a browser streaming it) and is waiting for them.
    /// A count of 0 ends the priority.
    /// </summary>
    public void Prioritise(int from, int count)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(from);
        ArgumentOutOfRangeException.ThrowIfNegative(count);
        _priorityFrom = Math.Min(from, ChunkCount);
        _priorityEnd = (int)Math.Min((long)from + count, ChunkCount);
    }

    private bool TryPickPriority(PeerState state, out int index)
    {
        for (index = _priorityFrom; index < _priorityEnd; index++)
        {
            if (IsPickable(index) && state.Has(index))
            {
                AddRequest(state, index);
                return true;
            }
        }

        index = -1;
        return false;
    }

    private bool TryPickDuplicate(PeerState state, out int index)
    {
        index = -1;
        _ties.Clear();
        var fewest = MaxDuplicates;
        foreach (var (chunk, requesters) in _inFlight)
        {
            if (requesters.Count > fewest || !state.Has(chunk) || requesters.Contains(state)) continue;
            if (requesters.Count < fewest)
            {
                fewest = requesters.Count;
                _ties.Clear();
            }

            if (requesters.Count < MaxDuplicates) _ties.Add(chunk);
        }

        if (_ties.Count == 0) return false;

        // Dictionary order depends on its history; sorting makes the random choice reproducible from the seed.
        _ties.Sort();
        index = _ties[_random.Next(_ties.Count)];
        AddRequest(state, index);
        return true;
    }

    private int SelectNth(ulong[] candidates, ulong[] have, int n)
    {
        for (var word = 0; word < _wordCount; word++)
        {
            var bits = candidates[word] & have[word];
            var count = BitOperations.PopCount(bits);
            if (n < count)
            {
                for (; n > 0; n--) bits &= bits - 1;
                return (word * WordBits) + BitOperations.TrailingZeroCount(bits);
            }

            n -= count;
        }

        throw new UnreachableException("the candidate count and the candidate bits disagree");
    }

    private void SetHas(PeerState state, int index, bool has)
    {
        if (state.Has(index) == has) return;
        state.Flip(index);
        ChangeAvailability(index, has ? 1 : -1);
    }

    private void ChangeAvailability(int index, int delta)
    {
        var pickable = IsPickable(index);
        if (pickable) RemoveFromLevel(index);
        _availability[index] += delta;
        if (pickable) AddToLevel(index);
    }

    private void AddRequest(PeerState state, int index)
    {
        if (!_inFlight.TryGetValue(index, out var requesters))
        {
            RemoveFromLevel(index);
            requesters = new List<PeerState>(MaxDuplicates);
            _inFlight.Add(index, requesters);
        }

        requesters.Add(state);
        state.InFlight.Add(index);
    }

    private void EndRequest(PeerState state, int index)
    {
        if (!state.InFlight.Remove(index)) return;
        var requesters = _inFlight[index];
        requesters.Remove(state);
        if (requesters.Count == 0)
        {
            _inFlight.Remove(index);
            AddToLevel(index);
        }
    }

    private bool IsPickable(int index) => !_done[index] && !_inFlight.ContainsKey(index);

    private void AddToLevel(int index)
    {
        var level = _availability[index];
        EnsureLevel(level);
        _levels[level][index / WordBits] |= 1UL << (index % WordBits);
        _levelCounts[level]++;
    }

    private void RemoveFromLevel(int index)
    {
        var level = _availability[index];
        _levels[level][index / WordBits] &= ~(1UL << (index % WordBits));
        _levelCounts[level]--;
    }

    private void EnsureLevel(int level)
    {
        while (_levels.Count <= level)
        {
            _levels.Add(new ulong[_wordCount]);
            _levelCounts.Add(0);
        }
    }

    private void CheckIndex(int index) =>
        ArgumentOutOfRangeException.ThrowIfGreaterThanOrEqual((uint)index, (uint)ChunkCount, nameof(index));

    private sealed class PeerState(DeviceId id, int wordCount)
    {
        public DeviceId Id { get; } = id;

        public ulong[] Have { get; } = new ulong[wordCount];

        public HashSet<int> InFlight { get; } = [];

        public bool Has(int index) => (Have[index / WordBits] & (1UL << (index % WordBits))) != 0;

        public void Flip(int index) => Have[index / WordBits] ^= 1UL << (index % WordBits);
    }
}
