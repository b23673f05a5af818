using Npgsql;
using Shoal.Bench;

namespace Shoal.Tracker.Tests;

[CollectionDefinition(Name)]
public sealed class BackendCollection : ICollectionFixture<PostgresFixture>
{
    public const string Name = "tracker backends";
}

/// <summary>
/// PostgreSQL for the tests: the server named by <c>SHOAL_TEST_POSTGRES</c> (a connection string of a user who may
/// create databases), or else a private cluster of the installed binaries (the benchmark's <see cref="PostgresCluster"/>)
/// in a temp directory, started on first use and removed at the end. Each test gets a database of its own.
/// </summary>
public sealed class PostgresFixture : IAsyncLifetime
{
    public const string EnvironmentVariable = "SHOAL_TEST_POSTGRES";

    /// <summary>The cluster's directory names start with this; CI kills any postgres left running in one.</summary>
    public const string DirectoryPrefix = "shoal-tracker-pg-";

    private static readonly string? External = Environment.GetEnvironmentVariable(EnvironmentVariable) is { Length: > 0 } text ? text : null;

    private readonly SemaphoreSlim _gate = new(1, 1);
    private readonly List<string> _databases = [];
    private Task<string>? _server;
    private PostgresCluster? _cluster;

    public static string? SkipReason { get; } = External is null && PostgresCluster.FindBinaries() is null
        ? $"PostgreSQL is not installed (no /usr/lib/postgresql/*/bin/initdb) and {EnvironmentVariable} is not set"
        : null;

    public async Task<string> CreateDatabaseAsync()
    {
        await _gate.WaitAsync();
        try
        {
            // Started once: a start that failed fails every test the same way rather than being tried again.
            _server ??= External is not null ? Task.FromResult(External) : StartClusterAsync();
            var server = await _server;
            var name = "shoal_test_" + Guid.NewGuid().ToString("N");
            await using (var dataSource = NpgsqlDataSource.Create(server))
            await using (var command = dataSource.CreateCommand($"CREATE DATABASE {name}"))
            {
                await command.ExecuteNonQueryAsync();
            }

            _databases.Add(name);
            return new NpgsqlConnectionStringBuilder(server) { Database = name }.ToString();
        }
        finally
        {
            _gate.Release();
        }
    }

    public Task InitializeAsync() => Task.CompletedTask;

    public async Task DisposeAsync()
    {
        if (_cluster is not null)
        {
            await _cluster.DisposeAsync();
        }
        else if (External is not null && _server is { IsCompletedSuccessfully: true })
        {
            NpgsqlConnection.ClearAllPools();
            await using var dataSource = NpgsqlDataSource.Create(External);
            foreach (var name in _databases)
            {
                await using var command = dataSource.CreateCommand($"DROP DATABASE IF EXISTS {name} WITH (FORCE)");
                await command.ExecuteNonQueryAsync();
            }
        }

        _gate.Dispose();
    }

    private async Task<string> StartClusterAsync()
    {
        var directory = Path.Combine(Path.GetTempPath(), DirectoryPrefix + Guid.NewGuid().ToString("N"));
        _cluster = await PostgresCluster.StartAsync(directory, fsync: false, CancellationToken.None);
        return _cluster.ConnectionString;
    }
}
