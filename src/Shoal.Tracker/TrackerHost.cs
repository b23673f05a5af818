using System.Net;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using Shoal.Net.Tracking;
using Shoal.Tracker.Storage;

namespace Shoal.Tracker;

/// <summary>
/// A running tracker: the store (migrated on start), the HTTP API on Kestrel, and a sweeper that deletes expired
/// registrations and nonces every interval. Several may share one PostgreSQL database behind a load balancer.
/// </summary>
public sealed class TrackerHost : IAsyncDisposable
{
    private readonly WebApplication _app;
    private readonly CancellationTokenSource _stopping = new();
    private readonly Task _sweeper;

    private TrackerHost(WebApplication app, SqlTrackerStore store, Uri url, TrackerOptions options, ILogger logger)
    {
        _app = app;
        Store = store;
        Url = url;
        _sweeper = Task.Run(() => SweepAsync(options, logger));
    }

    /// <summary>Where the tracker answers (an address to dial: 127.0.0.1 when bound to every interface).</summary>
    public Uri Url { get; }

    public ITrackerStore Store { get; }

    /// <summary>Which database, for people: kind and location, never a password.</summary>
    public string DatabaseDescription => Store.Description;

    public static async Task<TrackerHost> StartAsync(TrackerOptions options, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(options);
        if (options.Interval <= TimeSpan.Zero) throw new ArgumentException("the interval must be positive", nameof(options));
        var listen = ParseListen(options.Listen);
        var logger = options.LoggerFactory.CreateLogger("shoal.tracker");
        var store = await SqlTrackerStore.OpenAsync(options.Database, options.Time, cancellationToken).ConfigureAwait(false);
        WebApplication? app = null;
        try
        {
            var builder = WebApplication.CreateSlimBuilder();
            builder.Logging.ClearProviders();
            builder.Services.AddSingleton(options.LoggerFactory);
            builder.WebHost.UseKestrel(kestrel =>
            {
                kestrel.Listen(listen);
                kestrel.AddServerHeader = false;
                kestrel.Limits.MaxRequestBodySize = TrackerLimits.MaxBodyBytes;
            });
            app = builder.Build();
            new TrackerApi(store, options, logger).Map(app);
            await app.StartAsync(cancellationToken).ConfigureAwait(false);
            var bound = app.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()!.Addresses.First();
            var url = new Uri(bound.Replace("0.0.0.0", "127.0.0.1", StringComparison.Ordinal).Replace("[::]", "127.0.0.1", StringComparison.Ordinal));
            logger.LogInformation("Tracker listening on {Url} (bound to {Bound}); database: {Database}, schema {Schema}", url, bound, store.Description, SqlTrackerStore.SchemaVersion);
            return new TrackerHost(app, store, url, options, logger);
        }
        catch
        {
            if (app is not null) await app.DisposeAsync().ConfigureAwait(false);
            await store.DisposeAsync().ConfigureAwait(false);
            throw;
        }
    }

    /// <summary>Parses "HOST:PORT" where HOST is an IP address (IPv6 in brackets), "localhost" or "*" (every interface).</summary>
    public static IPEndPoint ParseListen(string text)
    {
        ArgumentNullException.ThrowIfNull(text);
        var colon = text.LastIndexOf(':');
        var host = colon < 0 ? "" : text[..colon];
        if (colon < 0 || !int.TryParse(text[(colon + 1)..], out var port) || port is < 0 or > IPEndPoint.MaxPort)
        {
            throw new ArgumentException($"listen address '{text}': expected HOST:PORT with a port from 0 to 65535");
        }

        var address = host switch
        {
            "*" => IPAddress.IPv6Any,
            "localhost" => IPAddress.Loopback,
            _ when host.StartsWith('[') && host.EndsWith(']') && IPAddress.TryParse(host[1..^1], out var v6) => v6,
            _ when !host.Contains(':', StringComparison.Ordinal) && IPAddress.TryParse(host, out var v4) => v4,
            _ => throw new ArgumentException($"listen address '{text}': the host must be an IP address (IPv6 in brackets), 'localhost' or '*'"),
        };
        return new IPEndPoint(address, port);
    }

    private async Task SweepAsync(TrackerOptions options, ILogger logger)
    {
        using var timer = new PeriodicTimer(options.Interval, options.Time);
        try
        {
            while (await timer.WaitForNextTickAsync(_stopping.Token).ConfigureAwait(false))
            {
                try
                {
                    var swept = await Store.SweepAsync(options.Time.GetUtcNow(), _stopping.Token).ConfigureAwait(false);
                    if (swept.Devices > 0) logger.LogDebug("Expired {Devices} registrations and {Nonces} nonces", swept.Devices, swept.Nonces);
                }
                catch (System.Data.Common.DbException e)
                {
                    // The database may be back by the next tick; until then expired entries are merely hidden from answers.
                    logger.LogWarning("Sweeping expired registrations failed: {Error}", e.Message);
                }
            }
        }
        catch (OperationCanceledException)
        {
            // Stopping.
        }
    }

    public async ValueTask DisposeAsync()
    {
        await _stopping.CancelAsync().ConfigureAwait(false);
        await _sweeper.ConfigureAwait(false);
        await _app.StopAsync(CancellationToken.None).ConfigureAwait(false);
        await _app.DisposeAsync().ConfigureAwait(false);
        await Store.DisposeAsync().ConfigureAwait(false);
        _stopping.Dispose();
    }
}
