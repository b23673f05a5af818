using Shoal.Core;

namespace Shoal.Net.Relay;

/// <summary>What one relay gives away, per network (a network tag, proven by a signature) and in all.</summary>
/// <param name="SessionsPerNetwork">Sessions forwarding at once for one network.</param>
/// <param name="ListenersPerNetwork">Control connections (devices waiting to be reached) of one network.</param>
/// <param name="BytesPerSecondPerNetwork">Forwarded bytes per second, both directions of every session of one network together.</param>
/// <param name="MaxNetworks">Networks served at once.</param>
/// <param name="MaxConnections">TCP connections at once, handshakes included.</param>
public sealed record RelayLimits(
    int SessionsPerNetwork = 16,
    int ListenersPerNetwork = 64,
    long BytesPerSecondPerNetwork = 32L << 20,
    int MaxNetworks = 1024,
    int MaxConnections = 4096);

/// <summary>
/// The relay's accounts: who may hold a control connection or a session now, and each network's bandwidth. A
/// network's entry lives while it holds something, so memory follows use and stays within <see cref="RelayLimits"/>.
/// </summary>
public sealed class RelayLedger(RelayLimits limits, TimeProvider time)
{
    private readonly Lock _gate = new();
    private readonly Dictionary<string, Account> _networks = new(StringComparer.Ordinal);

    public RelayLimits Limits => limits;

    public int Networks
    {
        get
        {
            lock (_gate) return _networks.Count;
        }
    }

    /// <summary>A control connection for <paramref name="network"/>, or null when its listeners or the networks are at their limit.</summary>
    public RelayLease? TryListen(string network) => TryTake(network, listener: true);

    /// <summary>A forwarding session for <paramref name="network"/>, or null when its sessions or the networks are at their limit.</summary>
    public RelayLease? TryOpenSession(string network) => TryTake(network, listener: false);

    /// <summary>Sessions and listeners held by <paramref name="network"/> now.</summary>
    public (int Sessions, int Listeners) Usage(string network)
    {
        lock (_gate) return _networks.TryGetValue(network, out var a) ? (a.Sessions, a.Listeners) : (0, 0);
    }

    private RelayLease? TryTake(string network, bool listener)
    {
        lock (_gate)
        {
            if (!_networks.TryGetValue(network, out var account))
            {
                if (_networks.Count >= limits.MaxNetworks) return null;
                account = new Account(new TokenBucket(limits.BytesPerSecondPerNetwork, time));
                _networks[network] = account;
            }

            if (listener ? account.Listeners >= limits.ListenersPerNetwork : account.Sessions >= limits.SessionsPerNetwork)
            {
                if (account.Sessions + account.Listeners == 0) _networks.Remove(network);
                return null;
            }

            if (listener) account.Listeners++;
            else account.Sessions++;
            return new RelayLease(this, network, listener, account.Bandwidth);
        }
    }

    internal void Release(string network, bool listener)
    {
        lock (_gate)
        {
            if (!_networks.TryGetValue(network, out var account)) return;
            if (listener) account.Listeners--;
            else account.Sessions--;
            if (account.Sessions + account.Listeners == 0) _networks.Remove(network);
        }
    }

    private sealed class Account(TokenBucket bandwidth)
    {
        public TokenBucket Bandwidth { get; } = bandwidth;

        public int Sessions { get; set; }

        public int Listeners { get; set; }
    }
}

/// <summary>A listener's or a session's place in its network's account; dispose to give it back (once).</summary>
public sealed class RelayLease : IDisposable
{
    private readonly RelayLedger _ledger;
    private readonly bool _listener;
    private int _released;

    internal RelayLease(RelayLedger ledger, string network, bool listener, TokenBucket bandwidth)
    {
        _ledger = ledger;
        _listener = listener;
        Network = network;
        Bandwidth = bandwidth;
    }

    public string Network { get; }

    /// <summary>Shared by every session of the network.</summary>
    public TokenBucket Bandwidth { get; }

    public void Dispose()
    {
        if (Interlocked.Exchange(ref _released, 1) == 0) _ledger.Release(Network, _listener);
    }
}
