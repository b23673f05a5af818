using Microsoft.Extensions.Logging;
using Shoal.Core;
using Shoal.Net;
using Shoal.Net.Tracking;

namespace Shoal.Node.Tracking;

/// <summary>
/// The trackers this node uses (<c>up --tracker</c>, repeatable): each is asked on its own, answers are merged, and
/// one that is down costs nothing but its timeout.
/// </summary>
public sealed class Trackers : IAsyncDisposable
{
    private readonly NetworkTrackerKey _networkKey;
    private readonly TrackerRequestSigner _signer;
    private readonly IReadOnlyList<TrackerClient> _clients;
    private readonly ILogger _logger;

    public Trackers(IReadOnlyList<Uri> urls, NodeIdentity identity, NetworkMembership membership, TrackerEnvironment node, TimeProvider time, ILoggerFactory loggerFactory)
    {
        _logger = loggerFactory.CreateLogger("shoal.tracker");
        _networkKey = NetworkTrackerKey.Derive(membership);
        _signer = new TrackerRequestSigner(identity.Certificate, _networkKey, time);
        _clients = [.. urls.Distinct().Select(url => new TrackerClient(url, _signer, node, time, _logger))];
    }

    public bool IsEmpty => _clients.Count == 0;

    /// <summary>The network's key for trackers, which also proves membership at relays.</summary>
    public NetworkTrackerKey NetworkKey => _networkKey;

    /// <summary>True when a tracker could connect back to this node, false when every one that tried could not, else null.</summary>
    public bool? Reachable
    {
        get
        {
            var known = _clients.Select(c => c.State.Reachable).Where(r => r is not null).ToList();
            return known.Count == 0 ? null : known.Any(r => r == true);
        }
    }

    /// <summary>The relays the trackers offer.</summary>
    public IReadOnlyList<string> Relays => [.. _clients.SelectMany(c => c.State.Relays ?? []).Distinct(StringComparer.OrdinalIgnoreCase)];

    /// <summary>
    /// Asks each tracker in turn to have <paramref name="device"/> dial this node now; the first that can (both poll
    /// it for signals) says where to dial back. Null when none can.
    /// </summary>
    public async Task<PunchResponse?> PunchAsync(DeviceId device, CancellationToken cancellationToken)
    {
        foreach (var client in _clients.Where(c => c.State.Online))
        {
            var answer = await AskAsync(client, c => c.PunchAsync(device, cancellationToken)).ConfigureAwait(false);
            if (answer?.Address is not null) return answer;
            if (answer is not null) _logger.LogDebug("Tracker {Url} cannot punch to {Device}: {Reason}", client.Url, device.ShortForm, answer.Reason);
        }

        return null;
    }

    public IReadOnlyList<TrackerState> States => [.. _clients.Select(c => c.State)];

    public void Start()
    {
        foreach (var client in _clients) client.Start();
    }

    /// <summary>What this node holds changed.</summary>
    public void Wake()
    {
        foreach (var client in _clients) client.Wake();
    }

    /// <summary>Files of the network whose names contain <paramref name="query"/>, from every tracker that answers.</summary>
    public async Task<IReadOnlyList<TrackedFile>> SearchAsync(string? query, int limit, CancellationToken cancellationToken)
    {
        var answers = await Task.WhenAll(_clients.Select(c => AskAsync(c, client => client.SearchAsync(query, limit, cancellationToken)))).ConfigureAwait(false);
        return
        [
            .. answers.SelectMany(files => files ?? [])
                .GroupBy(f => f.Id)
                .Select(g => g.MaxBy(f => (f.Replicas, f.Holders))!),
        ];
    }

    /// <summary>Nodes that hold chunks of <paramref name="file"/>, from every tracker that answers.</summary>
    public async Task<IReadOnlyList<FileHolder>> HoldersAsync(FileId file, CancellationToken cancellationToken)
    {
        var answers = await Task.WhenAll(_clients.Select(c => AskAsync(c, client => client.HoldersAsync(file, cancellationToken)))).ConfigureAwait(false);
        return [.. answers.SelectMany(a => a?.Holders ?? []).DistinctBy(h => h.Device)];
    }

    private async Task<T?> AskAsync<T>(TrackerClient client, Func<TrackerClient, Task<T>> ask)
        where T : class
    {
        try
        {
            return await ask(client).ConfigureAwait(false);
        }
        catch (Exception e) when (e is HttpRequestException or TrackerRefusedException or TaskCanceledException or System.Text.Json.JsonException)
        {
            _logger.LogDebug("Tracker {Url} did not answer: {Error}", client.Url, e.Message);
            return null;
        }
    }

    public async ValueTask DisposeAsync()
    {
        foreach (var client in _clients) await client.DisposeAsync().ConfigureAwait(false);
        _signer.Dispose();
        _networkKey.Dispose();
    }
}
