using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;

namespace Shoal.Tracker;

public sealed class TrackerOptions
{
    public const int DefaultPort = 7423;

    /// <summary>"HOST:PORT" (IPv6 in brackets; "*" for every interface, port 0 for any free port).</summary>
    public string Listen { get; init; } = $"0.0.0.0:{DefaultPort}";

    /// <summary>A SQLite file path, or PostgreSQL as <c>postgres://user:password@host:port/database</c> or an Npgsql connection string.</summary>
    public required string Database { get; init; }

    /// <summary>How often nodes are told to announce; a registration not renewed for three intervals expires.</summary>
    public TimeSpan Interval { get; init; } = TimeSpan.FromSeconds(30);

    /// <summary>Relays (HOST:PORT) offered to every network in announce answers.</summary>
    public IReadOnlyList<string> Relays { get; init; } = [];

    /// <summary>Whether a node answers at an address (default: a TCP connect); tests replace it.</summary>
    public Func<System.Net.IPEndPoint, CancellationToken, Task<bool>>? ConnectBack { get; init; }

    public TimeProvider Time { get; init; } = TimeProvider.System;

    public ILoggerFactory LoggerFactory { get; init; } = NullLoggerFactory.Instance;
}
