using System.Net;

namespace Shoal.Net.Discovery;

/// <summary>A broadcast domain in memory: every datagram an endpoint sends reaches every other attached endpoint.</summary>
public sealed class InMemoryDatagramNetwork
{
    private readonly Lock _gate = new();
    private readonly List<InMemoryDatagramEndpoint> _endpoints = [];

    public InMemoryDatagramEndpoint Attach(IPEndPoint source)
    {
        var endpoint = new InMemoryDatagramEndpoint(this, source);
        lock (_gate) _endpoints.Add(endpoint);
        return endpoint;
    }

    internal void Deliver(InMemoryDatagramEndpoint sender, ReadOnlyMemory<byte> datagram)
    {
        InMemoryDatagramEndpoint[] receivers;
        lock (_gate) receivers = [.. _endpoints.Where(e => e != sender)];
        var source = sender.Source;
        foreach (var receiver in receivers) receiver.Enqueue(datagram.ToArray(), source);
    }

    internal void Detach(InMemoryDatagramEndpoint endpoint)
    {
        lock (_gate) _endpoints.Remove(endpoint);
    }
}

public sealed class InMemoryDatagramEndpoint : IDatagramTransport
{
    private readonly InMemoryDatagramNetwork _network;
    private readonly DatagramInbox _inbox = new(4096, nameof(InMemoryDatagramEndpoint));

    internal InMemoryDatagramEndpoint(InMemoryDatagramNetwork network, IPEndPoint source)
    {
        _network = network;
        Source = source;
    }

    public event Action? LocalAddressesChanged;

    /// <summary>The source address receivers see; settable so a test can move a sender or spoof one.</summary>
    public IPEndPoint Source { get; set; }

    public ValueTask SendAsync(ReadOnlyMemory<byte> datagram, CancellationToken cancellationToken)
    {
        cancellationToken.ThrowIfCancellationRequested();
        _network.Deliver(this, datagram);
        return ValueTask.CompletedTask;
    }

    public ValueTask<(int Length, IPEndPoint Source)> ReceiveAsync(Memory<byte> buffer, CancellationToken cancellationToken) =>
        _inbox.ReceiveAsync(buffer, cancellationToken);

    public void RaiseLocalAddressesChanged() => LocalAddressesChanged?.Invoke();

    public void Dispose()
    {
        _network.Detach(this);
        _inbox.Complete();
    }

    internal void Enqueue(byte[] datagram, IPEndPoint source) => _inbox.Post(datagram, source);
}
