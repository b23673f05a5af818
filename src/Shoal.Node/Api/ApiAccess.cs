using System.Collections.Concurrent;
using System.Net;
using System.Security.Cryptography;
using System.Text;
using Microsoft.AspNetCore.Http;
using Shoal.Core;

namespace Shoal.Node.Api;

/// <summary>
/// Who may use the API: the CLI's token from the home's api.json, browser sessions opened with the password, and
/// short-lived download tickets. Tokens travel only in the Authorization header (never a cookie), so a page from
/// another origin can neither read nor forge a request: there is nothing for CSRF to ride on.
/// </summary>
public sealed class ApiAccess(string cliToken, Func<string?> passwordHash, TimeProvider time)
{
    private const int MaxSessions = 256;
    private const int FailuresPerMinute = 5;
    private static readonly TimeSpan TicketLifetime = TimeSpan.FromMinutes(5);
    private static readonly TimeSpan SessionLifetime = TimeSpan.FromDays(7);

    private readonly byte[] _ticketKey = RandomNumberGenerator.GetBytes(32);
    private readonly ConcurrentDictionary<string, DateTimeOffset> _sessions = new(StringComparer.Ordinal);
    private readonly ConcurrentDictionary<IPAddress, Queue<DateTimeOffset>> _failures = new();

    public bool PasswordSet => passwordHash() is not null;

    public bool IsAuthorised(HttpRequest request)
    {
        var header = request.Headers.Authorization.ToString();
        const string prefix = "Bearer ";
        if (!header.StartsWith(prefix, StringComparison.Ordinal)) return false;
        var token = header[prefix.Length..];
        if (CryptographicOperations.FixedTimeEquals(Encoding.UTF8.GetBytes(token), Encoding.UTF8.GetBytes(cliToken))) return true;
        return _sessions.TryGetValue(token, out var expires) && expires > time.GetUtcNow();
    }

    public enum LoginResult
    {
        Ok,
        NoPassword,
        Wrong,
        TooManyAttempts,
    }

    /// <summary>Checks the password; a few failures per minute per address, so it cannot be guessed online.</summary>
    public LoginResult Login(IPAddress? remote, string? password, out string? token)
    {
        token = null;
        var hash = passwordHash();
        if (hash is null) return LoginResult.NoPassword;
        var now = time.GetUtcNow();
        var failures = _failures.GetOrAdd(remote ?? IPAddress.None, _ => new Queue<DateTimeOffset>());
        lock (failures)
        {
            while (failures.Count > 0 && now - failures.Peek() > TimeSpan.FromMinutes(1)) failures.Dequeue();
            if (failures.Count >= FailuresPerMinute) return LoginResult.TooManyAttempts;
            if (password is null || !PasswordHash.Verify(password, hash))
            {
                failures.Enqueue(now);
                return LoginResult.Wrong;
            }
        }

        if (_sessions.Count >= MaxSessions)
        {
            foreach (var (old, _) in _sessions.OrderBy(s => s.Value).Take(_sessions.Count - MaxSessions + 1)) _sessions.TryRemove(old, out _);
        }

        token = Convert.ToHexStringLower(RandomNumberGenerator.GetBytes(24));
        _sessions[token] = now + SessionLifetime;
        return LoginResult.Ok;
    }

    /// <summary>A link the browser can open to download one file: it cannot carry a header, so the link carries proof.</summary>
    public (string Ticket, DateTimeOffset Expires) IssueTicket(FileId file)
    {
        var expires = time.GetUtcNow() + TicketLifetime;
        var seconds = expires.ToUnixTimeSeconds();
        return ($"{seconds}.{Mac(file, seconds)}", DateTimeOffset.FromUnixTimeSeconds(seconds));
    }

    public bool IsValidTicket(FileId file, string? ticket)
    {
        if (ticket is null) return false;
        var dot = ticket.IndexOf('.', StringComparison.Ordinal);
        if (dot <= 0 || !long.TryParse(ticket.AsSpan(0, dot), out var seconds)) return false;
        if (DateTimeOffset.FromUnixTimeSeconds(seconds) < time.GetUtcNow()) return false;
        return CryptographicOperations.FixedTimeEquals(Encoding.ASCII.GetBytes(ticket[(dot + 1)..]), Encoding.ASCII.GetBytes(Mac(file, seconds)));
    }

    private string Mac(FileId file, long seconds) =>
        Base64Url(HMACSHA256.HashData(_ticketKey, Encoding.UTF8.GetBytes($"{file}|{seconds}")));

    private static string Base64Url(byte[] bytes) => Convert.ToBase64String(bytes).TrimEnd('=').Replace('+', '-').Replace('/', '_');

    /// <summary>
    /// A node bound to loopback answers only requests addressed to a loopback name: a web page cannot reach it by
    /// pointing a DNS name of its own at 127.0.0.1 (DNS rebinding) and then read its answers as same-origin.
    /// </summary>
    public static bool IsLoopbackHost(HostString host)
    {
        var name = host.Host;
        if (name.Equals("localhost", StringComparison.OrdinalIgnoreCase) || name.EndsWith(".localhost", StringComparison.OrdinalIgnoreCase)) return true;
        return IPAddress.TryParse(name.Trim('[', ']'), out var address) && IPAddress.IsLoopback(address);
    }
}

/// <summary>The web UI password, stored as PBKDF2-SHA256 with a random salt in config.json.</summary>
public static class PasswordHash
{
    private const int Iterations = 210_000;
    private const string Scheme = "pbkdf2-sha256";

    public static string Create(string password)
    {
        var salt = RandomNumberGenerator.GetBytes(16);
        var hash = Rfc2898DeriveBytes.Pbkdf2(password, salt, Iterations, HashAlgorithmName.SHA256, 32);
        return $"{Scheme}${Iterations}${Convert.ToBase64String(salt)}${Convert.ToBase64String(hash)}";
    }

    public static bool Verify(string password, string stored)
    {
        var parts = stored.Split('$');
        if (parts.Length != 4 || parts[0] != Scheme || !int.TryParse(parts[1], out var iterations) || iterations < 1) return false;
        try
        {
            var salt = Convert.FromBase64String(parts[2]);
            var expected = Convert.FromBase64String(parts[3]);
            var actual = Rfc2898DeriveBytes.Pbkdf2(password, salt, iterations, HashAlgorithmName.SHA256, expected.Length);
            return CryptographicOperations.FixedTimeEquals(actual, expected);
        }
        catch (FormatException)
        {
            return false;
        }
    }
}
