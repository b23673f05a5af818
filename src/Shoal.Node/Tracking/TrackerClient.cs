using System.Net;
using System.Net.Http.Headers;
using System.Text.Json;
using System.Text.Json.Serialization.Metadata;
using Microsoft.Extensions.Logging;
using Shoal.Core;
using Shoal.Net.Tracking;
using Shoal.Protocol;

namespace Shoal.Node.Tracking;

/// <summary>What a tracker client needs from its node.</summary>
/// <param name="Self">The name and listen port to register, and the addresses this node thinks it has.</param>
/// <param name="Inventory">What the node holds now (complete files and partial ones with their bitfields).</param>
/// <param name="OnPeers">Live members the tracker knows of: candidates to dial.</param>
public sealed record TrackerEnvironment(
    Func<(string Name, int ListenPort, IReadOnlyList<string> Addresses)> Self,
    Func<IReadOnlyList<InventoryEntry>> Inventory,
    Action<IReadOnlyList<TrackedPeer>> OnPeers)
{
    /// <summary>Sends requests from the node's listen port; with <see cref="OnSignal"/>, the client long-polls for punch signals through it.</summary>
    public HttpMessageHandler? ListenPortHandler { get; init; }

    /// <summary>Another member asks this node to punch a hole to it.</summary>
    public Action<PunchSignal>? OnSignal { get; init; }
}

/// <summary>How one tracker is doing, for status and the API.</summary>
/// <param name="Reachable">Whether the tracker could connect back to this node (null: not known yet).</param>
/// <param name="PublicAddress">This node's listen port as the tracker sees it (from the long poll, which leaves from it).</param>
/// <param name="Relays">Relays the tracker offers.</param>
public sealed record TrackerState(
    string Url, bool Online, DateTimeOffset? LastAnnounce, string? LastError, int Peers, bool? Reachable = null, string? PublicAddress = null,
    IReadOnlyList<string>? Relays = null);

/// <summary>
/// Keeps this node registered at one tracker: announces (a heartbeat that carries what changed since the last one),
/// asks for the network's live members to dial, and answers the node's questions (file search, holders of a file).
/// A tracker that is down or refuses is retried with backoff; the node works on without it.
/// </summary>
public sealed class TrackerClient : IAsyncDisposable
{
    /// <summary>Changes are sent at most this often, so a burst (a folder of files shared at once) is one announce.</summary>
    public static readonly TimeSpan MinGap = TimeSpan.FromSeconds(1);

    /// <summary>While a download runs its bitfield changes all the time; the tracker hears of it this often.</summary>
    public static readonly TimeSpan PartialInterval = TimeSpan.FromSeconds(5);

    private static readonly TimeSpan MaxBackoff = TimeSpan.FromSeconds(60);
    private static readonly TimeSpan RequestTimeout = TimeSpan.FromSeconds(15);

    /// <summary>How long the tracker holds a signals poll; the request's own timeout leaves room for a slow answer.</summary>
    private const int SignalsWaitSeconds = 20;

    private readonly Uri _url;
    private readonly HttpClient _http;
    private readonly HttpClient? _listenPortHttp;
    private Task _signals = Task.CompletedTask;
    private readonly TrackerRequestSigner _signer;
    private readonly TrackerEnvironment _node;
    private readonly TimeProvider _time;
    private readonly ILogger _logger;
    private readonly AnnouncedInventory _announced = new();
    private TaskCompletionSource _wake = NewSignal();
    private readonly CancellationTokenSource _stopping = new();
    private Task _loop = Task.CompletedTask;
    private TimeSpan _interval = TimeSpan.FromSeconds(30);
    private volatile TrackerState _state;

    public TrackerClient(Uri url, TrackerRequestSigner signer, TrackerEnvironment node, TimeProvider time, ILogger logger, HttpMessageHandler? handler = null)
    {
        _url = url;
        _signer = signer;
        _node = node;
        _time = time;
        _logger = logger;
        _http = handler is null ? new HttpClient { Timeout = RequestTimeout } : new HttpClient(handler, disposeHandler: false) { Timeout = RequestTimeout };
        _state = new TrackerState(url.ToString(), false, null, null, 0);
        if (node.ListenPortHandler is not null && node.OnSignal is not null)
        {
            _listenPortHttp = new HttpClient(node.ListenPortHandler, disposeHandler: false) { Timeout = RequestTimeout + TimeSpan.FromSeconds(SignalsWaitSeconds) };
        }
    }

    public Uri Url => _url;

    public TrackerState State => _state;

    /// <summary>Parses a tracker URL as given to <c>--tracker</c>: http(s), with a host.</summary>
    public static bool TryParseUrl(string text, out Uri url, out string error)
    {
        error = "";
        if (!Uri.TryCreate(text.Contains("://", StringComparison.Ordinal) ? text : "http://" + text, UriKind.Absolute, out url!)
            || (url.Scheme != Uri.UriSchemeHttp && url.Scheme != Uri.UriSchemeHttps) || url.Host.Length == 0)
        {
            error = $"'{text}' is not a tracker URL (http://HOST:PORT)";
            return false;
        }

        return true;
    }

    public void Start()
    {
        _loop = Task.Run(RunAsync);
        if (_listenPortHttp is not null) _signals = Task.Run(() => PollSignalsAsync(_listenPortHttp));
    }

    /// <summary>Asks the tracker to have <paramref name="device"/> dial this node now, and where to dial it back.</summary>
    public Task<PunchResponse> PunchAsync(DeviceId device, CancellationToken cancellationToken) =>
        PostAsync(TrackerPaths.Punch, new PunchRequest(TrackerDeviceId.Format(device)), TrackerJson.Default.PunchRequest, TrackerJson.Default.PunchResponse, cancellationToken);

    /// <summary>
    /// One long poll after another, from the listen port, once registered: the tracker learns the NAT's mapping of the
    /// listen port from it, the open connection keeps that mapping alive, and punch requests arrive at once.
    /// </summary>
    private async Task PollSignalsAsync(HttpClient client)
    {
        var backoff = TimeSpan.FromSeconds(1);
        var token = _stopping.Token;
        while (!token.IsCancellationRequested)
        {
            try
            {
                if (!_state.Online)
                {
                    await Task.Delay(MinGap, _time, token).ConfigureAwait(false);
                    continue;
                }

                var answer = await PostAsync(TrackerPaths.Signals, new SignalsRequest(SignalsWaitSeconds), TrackerJson.Default.SignalsRequest, TrackerJson.Default.SignalsResponse, token, client).ConfigureAwait(false);
                backoff = TimeSpan.FromSeconds(1);
                _state = _state with { PublicAddress = answer.ObservedAddress };
                foreach (var signal in answer.Punches) _node.OnSignal!(signal);
            }
            catch (OperationCanceledException) when (token.IsCancellationRequested)
            {
                break;
            }
            catch (Exception e) when (e is HttpRequestException or TrackerRefusedException or TaskCanceledException or JsonException)
            {
                _logger.LogDebug("Tracker {Url}: waiting for signals failed: {Error}; again in {Backoff} s", _url, e.Message, (int)backoff.TotalSeconds);
                try
                {
                    await Task.Delay(backoff, _time, token).ConfigureAwait(false);
                }
                catch (OperationCanceledException)
                {
                    break;
                }

                backoff = TimeSpan.FromTicks(Math.Min(backoff.Ticks * 2, MaxBackoff.Ticks));
            }
        }
    }

    /// <summary>Something this node holds changed: announce soon (after <see cref="MinGap"/>).</summary>
    public void Wake() => _wake.TrySetResult();

    private static TaskCompletionSource NewSignal() => new(TaskCreationOptions.RunContinuationsAsynchronously);

    public async Task<IReadOnlyList<TrackedFile>> SearchAsync(string? query, int limit, CancellationToken cancellationToken) =>
        (await PostAsync(TrackerPaths.Files, new FilesRequest(query, limit), TrackerJson.Default.FilesRequest, TrackerJson.Default.FilesResponse, cancellationToken).ConfigureAwait(false)).Files;

    public Task<HoldersResponse> HoldersAsync(FileId file, CancellationToken cancellationToken) =>
        PostAsync(TrackerPaths.Holders, new HoldersRequest(file.ToString()), TrackerJson.Default.HoldersRequest, TrackerJson.Default.HoldersResponse, cancellationToken);

    private async Task RunAsync()
    {
        var backoff = TimeSpan.FromSeconds(1);
        var lastPeers = DateTimeOffset.MinValue;
        var token = _stopping.Token;
        while (!token.IsCancellationRequested)
        {
            TimeSpan wait;
            _wake = NewSignal();
            try
            {
                var inventory = _node.Inventory();
                await AnnounceAsync(inventory, token).ConfigureAwait(false);
                if (_time.GetUtcNow() - lastPeers >= _interval)
                {
                    var peers = await PostAsync(TrackerPaths.Peers, new PeersRequest(), TrackerJson.Default.PeersRequest, TrackerJson.Default.PeersResponse, token).ConfigureAwait(false);
                    lastPeers = _time.GetUtcNow();
                    _state = _state with { Peers = peers.Peers.Count };
                    _node.OnPeers(peers.Peers);
                }

                backoff = TimeSpan.FromSeconds(1);
                wait = inventory.Any(e => e.Chunks is not null) ? PartialInterval : _interval;
            }
            catch (OperationCanceledException) when (token.IsCancellationRequested)
            {
                break;
            }
            catch (Exception e) when (e is HttpRequestException or TrackerRefusedException or TaskCanceledException or JsonException)
            {
                if (_state.Online || _state.LastError != e.Message) _logger.LogWarning("Tracker {Url}: {Error}; retrying in {Backoff} s", _url, e.Message, (int)backoff.TotalSeconds);
                _state = _state with { Online = false, LastError = e.Message };
                wait = backoff;
                backoff = TimeSpan.FromTicks(Math.Min(backoff.Ticks * 2, MaxBackoff.Ticks));
            }

            try
            {
                // Woken early by a change, but never more often than MinGap.
                await Task.WhenAny(_wake.Task, Task.Delay(wait, _time, token)).ConfigureAwait(false);
                await Task.Delay(MinGap, _time, token).ConfigureAwait(false);
            }
            catch (OperationCanceledException)
            {
                break;
            }
        }
    }

    private async Task AnnounceAsync(IReadOnlyList<InventoryEntry> inventory, CancellationToken cancellationToken)
    {
        var delta = _announced.Next(inventory);
        var (name, port, addresses) = _node.Self();
        var batches = delta.Files.Chunk(TrackerLimits.MaxFilesPerAnnounce).ToList();
        if (batches.Count == 0) batches.Add([]);
        AnnounceResponse? response = null;
        for (var i = 0; i < batches.Count; i++)
        {
            // A big inventory goes in several requests: the first resets (if needed), the rest add to it.
            var request = new AnnounceRequest(name, port, [.. addresses.Take(TrackerLimits.MaxAddresses)], delta.Reset && i == 0, batches[i]);
            response = await PostAsync(TrackerPaths.Announce, request, TrackerJson.Default.AnnounceRequest, TrackerJson.Default.AnnounceResponse, cancellationToken).ConfigureAwait(false);
            if (response.NeedsReset) break;
        }

        _interval = TimeSpan.FromSeconds(Math.Clamp(response!.IntervalSeconds, 1, 3600));
        if (response.NeedsReset)
        {
            // The tracker forgot this node (it restarted without its data, or this registration expired): say it all again.
            _logger.LogInformation("Tracker {Url} did not know this node; registering everything again", _url);
            _announced.NeedReset();
            Wake();
        }
        else
        {
            _announced.Commit(delta);
        }

        if (!_state.Online) _logger.LogInformation("Registered at tracker {Url} as {Address}", _url, response.ObservedAddress);
        _state = _state with { Online = true, LastAnnounce = _time.GetUtcNow(), LastError = null, Reachable = response.Reachable, Relays = response.Relays ?? [] };
    }

    private async Task<TResponse> PostAsync<TRequest, TResponse>(
        string path, TRequest request, JsonTypeInfo<TRequest> requestType, JsonTypeInfo<TResponse> responseType, CancellationToken cancellationToken, HttpClient? client = null)
    {
        var body = JsonSerializer.SerializeToUtf8Bytes(request, requestType);
        var uri = new Uri(_url, path);
        using var message = new HttpRequestMessage(HttpMethod.Post, uri) { Content = new ByteArrayContent(body) };
        message.Content.Headers.ContentType = new MediaTypeHeaderValue("application/json");
        foreach (var (header, value) in _signer.Sign("POST", uri.PathAndQuery, uri.Authority, body)) message.Headers.TryAddWithoutValidation(header, value);
        using var response = await (client ?? _http).SendAsync(message, cancellationToken).ConfigureAwait(false);
        if (!response.IsSuccessStatusCode)
        {
            var reason = await ReadErrorAsync(response, cancellationToken).ConfigureAwait(false);
            throw new TrackerRefusedException(response.StatusCode, $"{(int)response.StatusCode} {reason}");
        }

        await using var stream = await response.Content.ReadAsStreamAsync(cancellationToken).ConfigureAwait(false);
        return await JsonSerializer.DeserializeAsync(stream, responseType, cancellationToken).ConfigureAwait(false)
            ?? throw new JsonException("the tracker sent an empty answer");
    }

    private static async Task<string> ReadErrorAsync(HttpResponseMessage response, CancellationToken cancellationToken)
    {
        try
        {
            var text = await response.Content.ReadAsStringAsync(cancellationToken).ConfigureAwait(false);
            return JsonSerializer.Deserialize(text, TrackerJson.Default.TrackerError)?.Error ?? response.ReasonPhrase ?? "";
        }
        catch (JsonException)
        {
            return response.ReasonPhrase ?? "";
        }
    }

    public async ValueTask DisposeAsync()
    {
        await _stopping.CancelAsync().ConfigureAwait(false);
        await _loop.ConfigureAwait(false);
        await _signals.ConfigureAwait(false);
        if (_state.Online)
        {
            // Unregistered at once rather than lingering as a dead entry until it expires.
            try
            {
                using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(2));
                await PostAsync(TrackerPaths.Leave, new LeaveRequest(), TrackerJson.Default.LeaveRequest, TrackerJson.Default.LeaveResponse, timeout.Token).ConfigureAwait(false);
            }
            catch (Exception e) when (e is HttpRequestException or TrackerRefusedException or OperationCanceledException or JsonException)
            {
                _logger.LogDebug("Leaving tracker {Url}: {Error}", _url, e.Message);
            }
        }

        _http.Dispose();
        _listenPortHttp?.Dispose();
        _stopping.Dispose();
    }
}

/// <summary>The tracker answered with an error status; the message carries its reason.</summary>
public sealed class TrackerRefusedException(HttpStatusCode status, string message) : Exception(message)
{
    public HttpStatusCode Status { get; } = status;
}
