using System.Buffers;
using System.Net;
using System.Text.Json;
using System.Text.Json.Serialization;
using System.Text.Json.Serialization.Metadata;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Routing;
using Microsoft.Extensions.Logging;
using Shoal.Net.Connections;
using Shoal.Net.Tracking;
using Shoal.Tracker.Nat;
using Shoal.Tracker.Storage;

namespace Shoal.Tracker;

/// <summary>
/// The tracker's endpoints. A POST is read whole (Kestrel refuses a body over <see cref="TrackerLimits.MaxBodyBytes"/>),
/// its signatures verified, its JSON parsed and every field checked; only then does the store see it, and the store
/// refuses a nonce it has seen. Whatever is refused gets a 4xx and a <see cref="TrackerError"/> and changes nothing.
/// </summary>
internal sealed class TrackerApi(ITrackerStore store, TrackerOptions options, ILogger logger)
{
    private static readonly string TooLarge = $"request body too large: at most {TrackerLimits.MaxBodyBytes} bytes";

    private readonly TrackerRequestVerifier _verifier = new();
    private readonly int _intervalSeconds = Math.Max(1, (int)options.Interval.TotalSeconds);
    private readonly Reachability _reachability = new(options.ConnectBack ?? Reachability.ConnectAsync, options.Time);
    private readonly PunchBoard _punches = new(options.Time);
    private readonly IReadOnlyList<string> _relays = [.. options.Relays];

    /// <summary>A long poll answers within this even if the node asked for longer, well before proxies give up on it.</summary>
    private const int MaxWaitSeconds = 30;

    /// <summary>A registration lasts three intervals: a node may miss two announces before it counts as gone.</summary>
    private readonly TimeSpan _lifetime = 3 * options.Interval;

    private delegate Task<TResponse> Handler<in TRequest, TResponse>(HttpContext context, TrackerSender sender, TRequest request, DateTimeOffset now);

    public void Map(IEndpointRouteBuilder app)
    {
        app.MapGet(TrackerPaths.Health, HealthAsync);
        Map(app, TrackerPaths.Announce, TrackerJson.Default.AnnounceRequest, TrackerJson.Default.AnnounceResponse, AnnounceAsync);
        Map(app, TrackerPaths.Files, TrackerJson.Default.FilesRequest, TrackerJson.Default.FilesResponse, FilesAsync);
        Map(app, TrackerPaths.Holders, TrackerJson.Default.HoldersRequest, TrackerJson.Default.HoldersResponse, HoldersAsync);
        Map(app, TrackerPaths.Peers, TrackerJson.Default.PeersRequest, TrackerJson.Default.PeersResponse, PeersAsync);
        Map(app, TrackerPaths.Leave, TrackerJson.Default.LeaveRequest, TrackerJson.Default.LeaveResponse, LeaveAsync);
        Map(app, TrackerPaths.Signals, TrackerJson.Default.SignalsRequest, TrackerJson.Default.SignalsResponse, SignalsAsync);
        Map(app, TrackerPaths.Punch, TrackerJson.Default.PunchRequest, TrackerJson.Default.PunchResponse, PunchAsync);
    }

    private void Map<TRequest, TResponse>(IEndpointRouteBuilder app, string path, JsonTypeInfo<TRequest> requestType, JsonTypeInfo<TResponse> responseType, Handler<TRequest, TResponse> handler) =>
        app.MapPost(path, context => HandleAsync(context, requestType, responseType, handler));

    private async Task<AnnounceResponse> AnnounceAsync(HttpContext context, TrackerSender sender, AnnounceRequest request, DateTimeOffset now)
    {
        var announce = RequestValidation.Announce(request, context.Connection.RemoteIpAddress ?? IPAddress.Loopback);
        var wasLive = await store.AnnounceAsync(sender, announce.Registration, announce.Reset, announce.Changes, now, now + _lifetime, context.RequestAborted).ConfigureAwait(false);
        var reachable = _reachability.Check(sender.Network, sender.DeviceHex, IPEndPoint.Parse(announce.ObservedAddress));
        return new AnnounceResponse(_intervalSeconds, announce.ObservedAddress, NeedsReset: !wasLive && !announce.Reset, reachable, _relays);
    }

    private async Task<FilesResponse> FilesAsync(HttpContext context, TrackerSender sender, FilesRequest request, DateTimeOffset now)
    {
        var (query, limit) = RequestValidation.Files(request);
        return new FilesResponse(await store.FilesAsync(sender, query, limit, now, context.RequestAborted).ConfigureAwait(false));
    }

    private Task<HoldersResponse> HoldersAsync(HttpContext context, TrackerSender sender, HoldersRequest request, DateTimeOffset now)
    {
        var (file, limit) = RequestValidation.Holders(request);
        return store.HoldersAsync(sender, file, limit, now, context.RequestAborted);
    }

    private async Task<PeersResponse> PeersAsync(HttpContext context, TrackerSender sender, PeersRequest request, DateTimeOffset now)
    {
        var (devices, limit) = RequestValidation.Peers(request);
        var peers = await store.PeersAsync(sender, devices, limit, now, context.RequestAborted).ConfigureAwait(false);
        return new PeersResponse([.. peers.Select(p => p with { Reachable = _reachability.Get(sender.Network, p.Device) })]);
    }

    private async Task<SignalsResponse> SignalsAsync(HttpContext context, TrackerSender sender, SignalsRequest request, DateTimeOffset now)
    {
        var wait = TimeSpan.FromSeconds(Math.Clamp(request.WaitSeconds, 0, MaxWaitSeconds));
        if (!await store.IsLiveAsync(sender, now, context.RequestAborted).ConfigureAwait(false)) throw new InvalidRequestException("announce first: this device is not registered");
        var remote = context.Connection.RemoteIpAddress ?? IPAddress.Loopback;
        var observed = Endpoints.Format(new IPEndPoint(remote, context.Connection.RemotePort));
        var signals = await _punches.WaitAsync(sender.Network, sender.DeviceHex, observed, wait, context.RequestAborted).ConfigureAwait(false);
        return new SignalsResponse(observed, signals);
    }

    private async Task<PunchResponse> PunchAsync(HttpContext context, TrackerSender sender, PunchRequest request, DateTimeOffset now)
    {
        var target = RequestValidation.Device(request.Device, "device");
        var live = await store.PeersAsync(sender, [target], 1, now, context.RequestAborted).ConfigureAwait(false);
        return live.Count == 0 ? new PunchResponse(null, 0, "that device is not registered here") : _punches.Punch(sender.Network, sender.DeviceHex, target);
    }

    private async Task<LeaveResponse> LeaveAsync(HttpContext context, TrackerSender sender, LeaveRequest request, DateTimeOffset now) =>
        new(await store.LeaveAsync(sender, now, context.RequestAborted).ConfigureAwait(false));

    private async Task HandleAsync<TRequest, TResponse>(HttpContext context, JsonTypeInfo<TRequest> requestType, JsonTypeInfo<TResponse> responseType, Handler<TRequest, TResponse> handler)
    {
        var http = context.Request;

        // Refused before the body is read: a client that asked "Expect: 100-continue" never sends it.
        if (http.ContentLength > TrackerLimits.MaxBodyBytes)
        {
            await RefuseAsync(context, StatusCodes.Status413PayloadTooLarge, TooLarge).ConfigureAwait(false);
            return;
        }

        byte[] body;
        int length;
        try
        {
            (body, length) = await ReadBodyAsync(http, context.RequestAborted).ConfigureAwait(false);
        }
        catch (BadHttpRequestException e)
        {
            var reason = e.StatusCode == StatusCodes.Status413PayloadTooLarge ? TooLarge : $"unreadable request body: {e.Message}";
            await RefuseAsync(context, e.StatusCode, reason).ConfigureAwait(false);
            return;
        }

        try
        {
            var now = options.Time.GetUtcNow();
            var verdict = _verifier.Verify(name => Header(http, name), http.Method, $"{http.Path}{http.QueryString}", http.Host.Value ?? "", body.AsSpan(0, length), now);
            if (verdict.Sender is not { } sender)
            {
                await RefuseAsync(context, verdict.Status, verdict.Error ?? "refused").ConfigureAwait(false);
                return;
            }

            TResponse response;
            try
            {
                var request = Parse(body.AsSpan(0, length), requestType);
                response = await handler(context, sender, request, now).ConfigureAwait(false);
            }
            catch (InvalidRequestException e)
            {
                await RefuseAsync(context, StatusCodes.Status400BadRequest, e.Message).ConfigureAwait(false);
                return;
            }
            catch (ReplayedRequestException e)
            {
                await RefuseAsync(context, StatusCodes.Status409Conflict, e.Message).ConfigureAwait(false);
                return;
            }

            await context.Response.WriteAsJsonAsync(response, responseType, contentType: null, context.RequestAborted).ConfigureAwait(false);
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(body);
        }
    }

    private static TRequest Parse<TRequest>(ReadOnlySpan<byte> body, JsonTypeInfo<TRequest> type)
    {
        try
        {
            return JsonSerializer.Deserialize(body, type) ?? throw new InvalidRequestException("malformed JSON: the body must be a JSON object");
        }
        catch (JsonException e)
        {
            // The serializer's first sentence is the reason; the rest repeats the path and adds line and byte positions.
            var message = e.Message;
            var end = message.IndexOf(". ", StringComparison.Ordinal);
            var reason = end < 0 ? message : message[..(end + 1)];
            throw new InvalidRequestException(e.Path is null ? $"malformed JSON: {reason}" : $"malformed JSON at {e.Path}: {reason}");
        }
    }

    /// <summary>The whole body in a pooled buffer; Kestrel ends the read with a 413 once it passes the limit.</summary>
    private static async Task<(byte[] Buffer, int Length)> ReadBodyAsync(HttpRequest http, CancellationToken cancellationToken)
    {
        var buffer = ArrayPool<byte>.Shared.Rent((int)Math.Clamp(http.ContentLength ?? 16 << 10, 1, TrackerLimits.MaxBodyBytes) + 1);
        var length = 0;
        try
        {
            while (true)
            {
                if (length == buffer.Length)
                {
                    if (length > TrackerLimits.MaxBodyBytes) throw new BadHttpRequestException(TooLarge, StatusCodes.Status413PayloadTooLarge);
                    var larger = ArrayPool<byte>.Shared.Rent(Math.Min(buffer.Length * 2, TrackerLimits.MaxBodyBytes + 1));
                    buffer.AsSpan(0, length).CopyTo(larger);
                    ArrayPool<byte>.Shared.Return(buffer);
                    buffer = larger;
                }

                var read = await http.Body.ReadAsync(buffer.AsMemory(length), cancellationToken).ConfigureAwait(false);
                if (read == 0) return (buffer, length);
                length += read;
            }
        }
        catch
        {
            ArrayPool<byte>.Shared.Return(buffer);
            throw;
        }
    }

    private static string? Header(HttpRequest http, string name) =>
        http.Headers.TryGetValue(name, out var values) && values.Count == 1 ? values[0] : null;

    private async Task RefuseAsync(HttpContext context, int status, string reason)
    {
        logger.LogDebug("Refused {Method} {Path} from {Remote}: {Status} {Reason}", context.Request.Method, context.Request.Path, context.Connection.RemoteIpAddress, status, reason);
        context.Response.StatusCode = status;
        await context.Response.WriteAsJsonAsync(new TrackerError(reason), TrackerJson.Default.TrackerError, contentType: null, context.RequestAborted).ConfigureAwait(false);
    }

    private async Task HealthAsync(HttpContext context)
    {
        HealthResponse health;
        try
        {
            health = new HealthResponse("ok", await store.ReadSchemaVersionAsync(context.RequestAborted).ConfigureAwait(false));
        }
        catch (System.Data.Common.DbException e)
        {
            logger.LogWarning("Health check: the database does not answer: {Error}", e.Message);
            context.Response.StatusCode = StatusCodes.Status503ServiceUnavailable;
            health = new HealthResponse("database unavailable", 0);
        }

        await context.Response.WriteAsJsonAsync(health, HealthJson.Default.HealthResponse, contentType: null, context.RequestAborted).ConfigureAwait(false);
    }
}

/// <summary>The answer to <see cref="TrackerPaths.Health"/>, for load balancers and monitoring: no signature needed.</summary>
/// <param name="Schema">The database's schema version.</param>
public sealed record HealthResponse(string Status, int Schema);

[JsonSourceGenerationOptions(JsonSerializerDefaults.Web)]
[JsonSerializable(typeof(HealthResponse))]
internal sealed partial class HealthJson : JsonSerializerContext;
