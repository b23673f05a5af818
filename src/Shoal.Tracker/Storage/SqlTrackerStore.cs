using System.Data;
using System.Data.Common;
using System.Text;
using Shoal.Net.Tracking;

namespace Shoal.Tracker.Storage;

/// <summary>
/// The tracker's store over ADO.NET, on SQLite or PostgreSQL (see <see cref="SqlDialect"/>). Each call takes a pooled
/// connection for its duration, so any number of calls run at once and several trackers can share one PostgreSQL
/// database. Writes lock a device's row before its holdings (announce, leave and sweep alike), and holdings, then the
/// files' rows, in file order, so concurrent writers never deadlock.
/// </summary>
public sealed class SqlTrackerStore : ITrackerStore
{
    /// <summary>A nonce must outlive every moment its request could still pass the clock check; twice that, for margin.</summary>
    private static readonly TimeSpan NonceLifetime = 2 * TrackerRequestVerifier.MaxClockSkew;

    /// <summary>Rows per multi-row statement: one round trip per batch instead of per file.</summary>
    private const int RowsPerStatement = 100;

    // What the sweeper deletes per transaction (each device with its holdings), so that it never holds SQLite's write
    // lock for more than some milliseconds.
    private const int DevicesPerSweep = 100;
    private const int NoncesPerSweep = 2000;
    private const int FilesPerSweep = 2000;

    private const string AddressSeparator = " ";

    private const string ConsumeNonceSql =
        "INSERT INTO nonces (device, nonce, expires_at) VALUES (@device, @nonce, @expires) ON CONFLICT (device, nonce) DO NOTHING";

    private const string UpsertDeviceSql = """
        INSERT INTO devices (network, device, name, addresses, registered_at, last_seen, expires_at)
        VALUES (@network, @device, @name, @addresses, @registered, @now, @expires)
        ON CONFLICT (network, device) DO UPDATE SET
            name = excluded.name, addresses = excluded.addresses, registered_at = excluded.registered_at,
            last_seen = excluded.last_seen, expires_at = excluded.expires_at
        """;

    private const string DeleteDeviceHoldingsSql = "DELETE FROM holdings WHERE network = @network AND device = @device";

    private const string LiveHolding = "JOIN devices d ON d.network = h.network AND d.device = h.device AND d.expires_at > @now";

    // The page first: the files table is walked in name order and the walk stops once the page is full (a file listed
    // under two names may take two places, and the page come out a little short). A name counts while a live holder
    // still announces it: rows outlive their holders until the sweep.
    // Then every live holding of the page's files, in the same query: one round trip for the whole answer. CROSS JOIN
    // tells SQLite to loop over the page outside (it cannot know the page is small); PostgreSQL plans it as any join.
    private const string FilesSql = $"""
        WITH matches AS (
            SELECT f.name_key AS sort_key, f.file AS file
            FROM files f
            WHERE f.network = @network AND f.name_key LIKE @pattern ESCAPE '\'
                AND EXISTS (SELECT 1 FROM holdings h {LiveHolding} WHERE h.file = f.file AND h.network = f.network AND h.name_key = f.name_key)
            ORDER BY f.name_key, f.file
            LIMIT @limit),
        page AS (SELECT file, MIN(sort_key) AS sort_key FROM matches GROUP BY file)
        SELECT p.file, h.name, h.size, h.chunk_count, h.chunks
        FROM page p
        CROSS JOIN holdings h
        {LiveHolding}
        WHERE h.file = p.file AND h.network = @network
        ORDER BY p.sort_key, p.file, h.updated_at DESC, h.device
        """;

    private const string HoldersSql = $"""
        SELECT h.device, d.name, d.addresses, h.name, h.size, h.chunk_count, h.chunks
        FROM holdings h {LiveHolding}
        WHERE h.network = @network AND h.file = @file
        ORDER BY h.updated_at DESC, h.device
        """;

    private const string PeersSql = """
        SELECT device, name, addresses, last_seen FROM devices
        WHERE network = @network AND device <> @device AND expires_at > @now{filter}
        ORDER BY last_seen DESC, device DESC
        LIMIT @limit
        """;

    // The expiry is checked again on the row itself: on PostgreSQL a device that announced while this waited for its
    // lock is re-checked in its new version and stays.
    private const string SweepDevicesSql = """
        DELETE FROM devices
        WHERE expires_at <= @now AND (network, device) IN (SELECT network, device FROM devices WHERE expires_at <= @now LIMIT @batch)
        RETURNING network, device
        """;

    private const string SweepNoncesSql = """
        DELETE FROM nonces
        WHERE expires_at <= @now AND (device, nonce) IN (SELECT device, nonce FROM nonces WHERE expires_at <= @now LIMIT @batch)
        """;

    // In batches, like the nonces, so that SQLite's write lock is never held for long.
    private const string SweepFilesSql = """
        DELETE FROM files
        WHERE (network, file, name_key) IN (
            SELECT network, file, name_key FROM files f
            WHERE NOT EXISTS (SELECT 1 FROM holdings h WHERE h.file = f.file AND h.network = f.network AND h.name_key = f.name_key)
            LIMIT @batch)
        """;

    private static readonly string FullUpsertSql = UpsertHoldingsSql(RowsPerStatement);
    private static readonly string FullRemoveSql = RemoveHoldingsSql(RowsPerStatement);

    private readonly SqlDialect _dialect;

    private SqlTrackerStore(SqlDialect dialect) => _dialect = dialect;

    public string Description => _dialect.Description;

    /// <summary>The schema version this build creates and expects.</summary>
    public static int SchemaVersion => TrackerSchema.Version;

    /// <summary>Opens (creating if need be) the database named by <paramref name="database"/> and migrates its schema.</summary>
    /// <param name="database">A SQLite file path, a <c>postgres://</c> URL or an Npgsql connection string.</param>
    public static async Task<SqlTrackerStore> OpenAsync(string database, TimeProvider time, CancellationToken cancellationToken)
    {
        var dialect = SqlDialect.For(database);
        try
        {
            await dialect.InitializeAsync(cancellationToken).ConfigureAwait(false);
            await TrackerSchema.MigrateAsync(dialect, time, cancellationToken).ConfigureAwait(false);
            return new SqlTrackerStore(dialect);
        }
        catch
        {
            await dialect.DisposeAsync().ConfigureAwait(false);
            throw;
        }
    }

    public async Task<int> ReadSchemaVersionAsync(CancellationToken cancellationToken)
    {
        await using var connection = await _dialect.OpenAsync(cancellationToken).ConfigureAwait(false);
        return await TrackerSchema.ReadVersionAsync(connection, null, cancellationToken).ConfigureAwait(false);
    }

    public Task<bool> AnnounceAsync(
        TrackerSender sender,
        DeviceRegistration registration,
        bool reset,
        IReadOnlyList<HoldingChange> changes,
        DateTimeOffset now,
        DateTimeOffset expiresAt,
        CancellationToken cancellationToken)
    {
        // The last word on each file counts; sorted, so that writers lock rows in one order.
        var latest = new Dictionary<string, HoldingChange>(StringComparer.Ordinal);
        foreach (var change in changes) latest[change.File] = change;
        var ordered = latest.Values.OrderBy(c => c.File, StringComparer.Ordinal).ToList();
        var held = ordered.Where(c => !c.Removed).ToList();
        var removed = ordered.Where(c => c.Removed).ToList();
        var nowMs = now.ToUnixTimeMilliseconds();

        return InTransactionAsync(
            async (connection, transaction) =>
            {
                await ConsumeNonceAsync(connection, transaction, sender, cancellationToken).ConfigureAwait(false);
                long? previousExpiry = null;
                long registeredAt = nowMs;
                await using (var command = Command(connection, transaction, "SELECT expires_at, registered_at FROM devices WHERE network = @network AND device = @device", Key(sender)))
                await using (var reader = await command.ExecuteReaderAsync(cancellationToken).ConfigureAwait(false))
                {
                    if (await reader.ReadAsync(cancellationToken).ConfigureAwait(false))
                    {
                        previousExpiry = reader.GetInt64(0);
                        if (previousExpiry > nowMs) registeredAt = reader.GetInt64(1);
                    }
                }

                var live = previousExpiry > nowMs;
                await using (var command = Command(
                    connection,
                    transaction,
                    UpsertDeviceSql,
                    [
                        .. Key(sender),
                        ("@name", registration.Name),
                        ("@addresses", string.Join(AddressSeparator, registration.Addresses)),
                        ("@registered", registeredAt),
                        ("@now", nowMs),
                        ("@expires", expiresAt.ToUnixTimeMilliseconds()),
                    ]))
                {
                    await command.ExecuteNonQueryAsync(cancellationToken).ConfigureAwait(false);
                }

                // An expired registration's holdings are gone, whether or not the sweeper got to them yet.
                if (reset || (previousExpiry is not null && !live))
                {
                    await using var command = Command(connection, transaction, DeleteDeviceHoldingsSql, Key(sender));
                    await command.ExecuteNonQueryAsync(cancellationToken).ConfigureAwait(false);
                }
                else
                {
                    await ExecuteBatchedAsync(connection, transaction, removed, FullRemoveSql, RemoveHoldingsSql, Key(sender), BindRemoval, cancellationToken).ConfigureAwait(false);
                }

                await ExecuteBatchedAsync(connection, transaction, held, FullUpsertSql, UpsertHoldingsSql, [.. Key(sender), ("@now", nowMs)], BindHolding, cancellationToken).ConfigureAwait(false);
                return live;
            },
            cancellationToken);
    }

    public async Task<IReadOnlyList<TrackedFile>> FilesAsync(TrackerSender sender, string? query, int limit, DateTimeOffset now, CancellationToken cancellationToken)
    {
        await using var connection = await OpenConsumingNonceAsync(sender, cancellationToken).ConfigureAwait(false);
        await using var command = Command(
            connection,
            null,
            FilesSql,
            ("@network", sender.Network),
            ("@now", now.ToUnixTimeMilliseconds()),
            ("@pattern", ContainsPattern(query)),
            ("@limit", limit));
        await using var reader = await command.ExecuteReaderAsync(cancellationToken).ConfigureAwait(false);
        var files = new List<TrackedFile>();
        var holdings = new List<HoldingRow>();
        string? current = null;
        while (await reader.ReadAsync(cancellationToken).ConfigureAwait(false))
        {
            var file = reader.GetString(0);
            if (file != current && current is not null)
            {
                files.Add(FileSummary.Summarize(current, holdings));
                holdings.Clear();
            }

            current = file;
            holdings.Add(ReadHolding(reader, 1));
        }

        if (current is not null) files.Add(FileSummary.Summarize(current, holdings));
        return files;
    }

    public async Task<HoldersResponse> HoldersAsync(TrackerSender sender, string file, int limit, DateTimeOffset now, CancellationToken cancellationToken)
    {
        await using var connection = await OpenConsumingNonceAsync(sender, cancellationToken).ConfigureAwait(false);
        await using var command = Command(connection, null, HoldersSql, ("@network", sender.Network), ("@file", file), ("@now", now.ToUnixTimeMilliseconds()));
        await using var reader = await command.ExecuteReaderAsync(cancellationToken).ConfigureAwait(false);
        var holders = new List<FileHolder>();
        var holdings = new List<HoldingRow>();
        while (await reader.ReadAsync(cancellationToken).ConfigureAwait(false))
        {
            var holding = ReadHolding(reader, 3);
            holdings.Add(holding);

            // Every holding counts towards the summary's replicas; only the first few are worth sending.
            if (holders.Count == limit) continue;
            var chunks = holding.Chunks is null ? null : Convert.ToBase64String(holding.Chunks);
            holders.Add(new FileHolder(reader.GetString(0), reader.GetString(1), SplitAddresses(reader.GetString(2)), chunks));
        }

        return new HoldersResponse(holdings.Count == 0 ? null : FileSummary.Summarize(file, holdings), holders);
    }

    public async Task<IReadOnlyList<TrackedPeer>> PeersAsync(TrackerSender sender, IReadOnlyList<string>? devices, int limit, DateTimeOffset now, CancellationToken cancellationToken)
    {
        var wanted = devices?.Distinct(StringComparer.Ordinal).ToList();
        await using var connection = await OpenConsumingNonceAsync(sender, cancellationToken).ConfigureAwait(false);
        if (wanted is { Count: 0 }) return [];
        var filter = wanted is null ? "" : $" AND device IN ({RowList(wanted.Count, i => $"@d{i}")})";
        await using var command = Command(
            connection,
            null,
            PeersSql.Replace("{filter}", filter, StringComparison.Ordinal),
            [.. Key(sender), ("@now", now.ToUnixTimeMilliseconds()), ("@limit", wanted?.Count ?? limit)]);
        if (wanted is not null)
        {
            for (var i = 0; i < wanted.Count; i++) Add(command, $"@d{i}", wanted[i]);
        }

        await using var reader = await command.ExecuteReaderAsync(cancellationToken).ConfigureAwait(false);
        var peers = new List<TrackedPeer>();
        while (await reader.ReadAsync(cancellationToken).ConfigureAwait(false))
        {
            peers.Add(new TrackedPeer(reader.GetString(0), reader.GetString(1), SplitAddresses(reader.GetString(2)), reader.GetInt64(3)));
        }

        return peers;
    }

    public async Task<bool> IsLiveAsync(TrackerSender sender, DateTimeOffset now, CancellationToken cancellationToken)
    {
        await using var connection = await OpenConsumingNonceAsync(sender, cancellationToken).ConfigureAwait(false);
        await using var command = Command(
            connection, null, "SELECT count(*) FROM devices WHERE network = @network AND device = @device AND expires_at > @now", [.. Key(sender), ("@now", now.ToUnixTimeMilliseconds())]);
        return Convert.ToInt64(await command.ExecuteScalarAsync(cancellationToken).ConfigureAwait(false), System.Globalization.CultureInfo.InvariantCulture) > 0;
    }

    public Task<bool> LeaveAsync(TrackerSender sender, DateTimeOffset now, CancellationToken cancellationToken) =>
        InTransactionAsync(
            async (connection, transaction) =>
            {
                await ConsumeNonceAsync(connection, transaction, sender, cancellationToken).ConfigureAwait(false);
                int devices;
                await using (var command = Command(connection, transaction, "DELETE FROM devices WHERE network = @network AND device = @device", Key(sender)))
                {
                    devices = await command.ExecuteNonQueryAsync(cancellationToken).ConfigureAwait(false);
                }

                await using (var command = Command(connection, transaction, DeleteDeviceHoldingsSql, Key(sender)))
                {
                    await command.ExecuteNonQueryAsync(cancellationToken).ConfigureAwait(false);
                }

                return devices > 0;
            },
            cancellationToken);

    public async Task<SweepResult> SweepAsync(DateTimeOffset now, CancellationToken cancellationToken)
    {
        var nowMs = now.ToUnixTimeMilliseconds();
        var devices = 0;
        int batch;
        do
        {
            batch = await InTransactionAsync((connection, transaction) => SweepDevicesAsync(connection, transaction, nowMs, cancellationToken), cancellationToken).ConfigureAwait(false);
            devices += batch;
        }
        while (batch == DevicesPerSweep);

        // After the devices: their holdings are what keeps a file's rows.
        await DeleteInBatchesAsync(SweepFilesSql, nowMs, FilesPerSweep, cancellationToken).ConfigureAwait(false);
        var nonces = await DeleteInBatchesAsync(SweepNoncesSql, nowMs, NoncesPerSweep, cancellationToken).ConfigureAwait(false);

        await _dialect.MaintainAsync(cancellationToken).ConfigureAwait(false);
        return new SweepResult(devices, nonces);
    }

    public ValueTask DisposeAsync() => _dialect.DisposeAsync();

    private async Task<int> DeleteInBatchesAsync(string sql, long now, int size, CancellationToken cancellationToken)
    {
        var deleted = 0;
        int batch;
        do
        {
            batch = await InTransactionAsync(
                async (connection, transaction) =>
                {
                    await using var command = Command(connection, transaction, sql, ("@now", now), ("@batch", size));
                    return await command.ExecuteNonQueryAsync(cancellationToken).ConfigureAwait(false);
                },
                cancellationToken).ConfigureAwait(false);
            deleted += batch;
        }
        while (batch == size);
        return deleted;
    }

    private static async Task<int> SweepDevicesAsync(DbConnection connection, DbTransaction transaction, long now, CancellationToken cancellationToken)
    {
        var expired = new List<(string Network, string Device)>();
        await using (var command = Command(connection, transaction, SweepDevicesSql, ("@now", now), ("@batch", DevicesPerSweep)))
        await using (var reader = await command.ExecuteReaderAsync(cancellationToken).ConfigureAwait(false))
        {
            while (await reader.ReadAsync(cancellationToken).ConfigureAwait(false)) expired.Add((reader.GetString(0), reader.GetString(1)));
        }

        await using var delete = Command(connection, transaction, DeleteDeviceHoldingsSql);
        var networkParameter = Add(delete, "@network", null);
        var deviceParameter = Add(delete, "@device", null);
        foreach (var (network, device) in expired)
        {
            networkParameter.Value = network;
            deviceParameter.Value = device;
            await delete.ExecuteNonQueryAsync(cancellationToken).ConfigureAwait(false);
        }

        return expired.Count;
    }

    private async Task<T> InTransactionAsync<T>(Func<DbConnection, DbTransaction, Task<T>> work, CancellationToken cancellationToken)
    {
        var gate = _dialect.WriteGate;
        if (gate is not null) await gate.WaitAsync(cancellationToken).ConfigureAwait(false);
        try
        {
            await using var connection = await _dialect.OpenAsync(cancellationToken).ConfigureAwait(false);
            await using var transaction = await connection.BeginTransactionAsync(cancellationToken).ConfigureAwait(false);
            var result = await work(connection, transaction).ConfigureAwait(false);
            await transaction.CommitAsync(cancellationToken).ConfigureAwait(false);
            return result;
        }
        finally
        {
            gate?.Release();
        }
    }

    /// <summary>A connection for a read, after the request's nonce was recorded (a statement of its own, committed at once).</summary>
    private async Task<DbConnection> OpenConsumingNonceAsync(TrackerSender sender, CancellationToken cancellationToken)
    {
        var gate = _dialect.WriteGate;
        if (gate is not null) await gate.WaitAsync(cancellationToken).ConfigureAwait(false);
        DbConnection? connection = null;
        try
        {
            connection = await _dialect.OpenAsync(cancellationToken).ConfigureAwait(false);
            await ConsumeNonceAsync(connection, null, sender, cancellationToken).ConfigureAwait(false);
            return connection;
        }
        catch
        {
            if (connection is not null) await connection.DisposeAsync().ConfigureAwait(false);
            throw;
        }
        finally
        {
            gate?.Release();
        }
    }

    private static async Task ConsumeNonceAsync(DbConnection connection, DbTransaction? transaction, TrackerSender sender, CancellationToken cancellationToken)
    {
        await using var command = Command(
            connection,
            transaction,
            ConsumeNonceSql,
            ("@device", sender.DeviceHex),
            ("@nonce", sender.Nonce),
            ("@expires", (sender.SignedAt + NonceLifetime).ToUnixTimeMilliseconds()));
        if (await command.ExecuteNonQueryAsync(cancellationToken).ConfigureAwait(false) == 0) throw new ReplayedRequestException();
    }

    private static async Task ExecuteBatchedAsync(
        DbConnection connection,
        DbTransaction transaction,
        IReadOnlyList<HoldingChange> rows,
        string fullBatchSql,
        Func<int, string> sqlFor,
        (string Name, object? Value)[] common,
        Action<DbCommand, int, HoldingChange> bind,
        CancellationToken cancellationToken)
    {
        for (var start = 0; start < rows.Count; start += RowsPerStatement)
        {
            var count = Math.Min(RowsPerStatement, rows.Count - start);
            await using var command = Command(connection, transaction, count == RowsPerStatement ? fullBatchSql : sqlFor(count), common);
            for (var i = 0; i < count; i++) bind(command, i, rows[start + i]);
            await command.ExecuteNonQueryAsync(cancellationToken).ConfigureAwait(false);
        }
    }

    // The file rows in the same round trip; one that says nothing new is not rewritten, so that announcing again what
    // other holders announced already costs no write.
    private static string UpsertHoldingsSql(int rows) => $"""
        INSERT INTO holdings (network, file, device, name, name_key, size, chunk_count, chunks, updated_at)
        VALUES {RowList(rows, i => $"(@network, @f{i}, @device, @n{i}, @k{i}, @s{i}, @c{i}, @b{i}, @now)")}
        ON CONFLICT (file, network, device) DO UPDATE SET
            name = excluded.name, name_key = excluded.name_key, size = excluded.size,
            chunk_count = excluded.chunk_count, chunks = excluded.chunks, updated_at = excluded.updated_at;
        INSERT INTO files (network, file, name_key, name, size, chunk_count)
        VALUES {RowList(rows, i => $"(@network, @f{i}, @k{i}, @n{i}, @s{i}, @c{i})")}
        ON CONFLICT (network, file, name_key) DO UPDATE SET
            name = excluded.name, size = excluded.size, chunk_count = excluded.chunk_count
        WHERE files.name <> excluded.name OR files.size <> excluded.size OR files.chunk_count <> excluded.chunk_count
        """;

    private static string RemoveHoldingsSql(int rows) =>
        $"DELETE FROM holdings WHERE network = @network AND device = @device AND file IN ({RowList(rows, i => $"@f{i}")})";

    private static string RowList(int rows, Func<int, string> row)
    {
        var text = new StringBuilder();
        for (var i = 0; i < rows; i++)
        {
            if (i > 0) text.Append(", ");
            text.Append(row(i));
        }

        return text.ToString();
    }

    private static void BindRemoval(DbCommand command, int i, HoldingChange change) => Add(command, $"@f{i}", change.File);

    private static void BindHolding(DbCommand command, int i, HoldingChange change)
    {
        Add(command, $"@f{i}", change.File);
        Add(command, $"@n{i}", change.Name);
        Add(command, $"@k{i}", NameKey(change.Name));
        Add(command, $"@s{i}", change.Size);
        Add(command, $"@c{i}", change.ChunkCount);
        Add(command, $"@b{i}", change.Chunks).DbType = DbType.Binary;
    }

    private static (string, object?)[] Key(TrackerSender sender) => [("@network", sender.Network), ("@device", sender.DeviceHex)];

    private static DbCommand Command(DbConnection connection, DbTransaction? transaction, string sql, params ReadOnlySpan<(string Name, object? Value)> parameters)
    {
        var command = connection.CreateCommand();
        command.Transaction = transaction;
        command.CommandText = sql;
        foreach (var (name, value) in parameters) Add(command, name, value);
        return command;
    }

    private static DbParameter Add(DbCommand command, string name, object? value)
    {
        var parameter = command.CreateParameter();
        parameter.ParameterName = name;
        parameter.Value = value ?? DBNull.Value;
        command.Parameters.Add(parameter);
        return parameter;
    }

    private static HoldingRow ReadHolding(DbDataReader reader, int first) => new(
        reader.GetString(first),
        reader.GetInt64(first + 1),
        reader.GetInt32(first + 2),
        reader.IsDBNull(first + 3) ? null : reader.GetFieldValue<byte[]>(first + 3));

    private static IReadOnlyList<string> SplitAddresses(string addresses) =>
        addresses.Split(AddressSeparator, StringSplitOptions.RemoveEmptyEntries);

    internal static string NameKey(string name) => name.ToLowerInvariant();

    /// <summary>A LIKE pattern matching names that contain <paramref name="query"/> literally: its wildcards are escaped.</summary>
    private static string ContainsPattern(string? query)
    {
        if (string.IsNullOrEmpty(query)) return "%";
        var escaped = NameKey(query).Replace(@"\", @"\\", StringComparison.Ordinal)
            .Replace("%", @"\%", StringComparison.Ordinal)
            .Replace("_", @"\_", StringComparison.Ordinal);
        return $"%{escaped}%";
    }
}
