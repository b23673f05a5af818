using System.Net.Security;
using System.Net.Sockets;
using System.Runtime.Versioning;
using System.Security.Authentication;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;

namespace Shoal.Net.Tests;

public sealed class TlsIdentities : IDisposable
{
    private readonly TestDirectory _directory = new();

    public TlsIdentities()
    {
        Alice = NodeIdentity.LoadOrCreate(_directory.Combine("alice"));
        Bob = NodeIdentity.LoadOrCreate(_directory.Combine("bob"));
    }

    public NodeIdentity Alice { get; }

    public NodeIdentity Bob { get; }

    public void Dispose()
    {
        Alice.Dispose();
        Bob.Dispose();
        _directory.Dispose();
    }
}

public sealed class TlsChannelTests(TlsIdentities identities) : IClassFixture<TlsIdentities>, IDisposable
{
    // Only a safety net so a regression fails instead of hanging; no test waits for it.
    private readonly CancellationTokenSource _timeout = new(TimeSpan.FromSeconds(30));

    public void Dispose() => _timeout.Dispose();

    [Fact]
    public async Task MutualHandshakeUsesTls13AndRevealsEachDeviceId()
    {
        var (clientTransport, serverTransport) = await LoopbackPair.ConnectAsync();
        var serverTask = TlsChannel.AuthenticateAsServerAsync(serverTransport, identities.Bob, _timeout.Token);
        var clientTask = TlsChannel.AuthenticateAsClientAsync(clientTransport, identities.Alice, _timeout.Token);
        await using var server = await serverTask;
        await using var client = await clientTask;

        Assert.Equal(SslProtocols.Tls13, client.SslProtocol);
        Assert.Equal(SslProtocols.Tls13, server.SslProtocol);
        Assert.True(client.IsMutuallyAuthenticated);
        Assert.True(server.IsMutuallyAuthenticated);
        Assert.Equal(identities.Bob.DeviceId, TlsChannel.RemoteDeviceId(client));
        Assert.Equal(identities.Alice.DeviceId, TlsChannel.RemoteDeviceId(server));

        await client.WriteAsync("ping"u8.ToArray(), _timeout.Token);
        var received = new byte[4];
        await server.ReadExactlyAsync(received, _timeout.Token);
        Assert.Equal("ping"u8.ToArray(), received);
        await server.WriteAsync("pong"u8.ToArray(), _timeout.Token);
        await client.ReadExactlyAsync(received, _timeout.Token);
        Assert.Equal("pong"u8.ToArray(), received);
    }

    [Fact]
    public async Task EveryHandshakeBetweenTheSamePairPresentsBothCertificates()
    {
        for (var i = 0; i < 3; i++)
        {
            var (clientTransport, serverTransport) = await LoopbackPair.ConnectAsync();
            var serverTask = TlsChannel.AuthenticateAsServerAsync(serverTransport, identities.Alice, _timeout.Token);
            var clientTask = TlsChannel.AuthenticateAsClientAsync(clientTransport, identities.Bob, _timeout.Token);
            await using var server = await serverTask;
            await using var client = await clientTask;

            Assert.Equal(identities.Alice.DeviceId, TlsChannel.RemoteDeviceId(client));
            Assert.Equal(identities.Bob.DeviceId, TlsChannel.RemoteDeviceId(server));
        }
    }

    [Fact]
    [SupportedOSPlatform("linux")]
    public async Task PrefersAes128Gcm()
    {
        var (clientTransport, serverTransport) = await LoopbackPair.ConnectAsync();
        var serverTask = TlsChannel.AuthenticateAsServerAsync(serverTransport, identities.Bob, _timeout.Token);
        var clientTask = TlsChannel.AuthenticateAsClientAsync(clientTransport, identities.Alice, _timeout.Token);
        await using var server = await serverTask;
        await using var client = await clientTask;

        Assert.Equal(TlsCipherSuite.TLS_AES_128_GCM_SHA256, client.NegotiatedCipherSuite);
        Assert.Equal(TlsCipherSuite.TLS_AES_128_GCM_SHA256, server.NegotiatedCipherSuite);
    }

    [Fact]
    [SupportedOSPlatform("linux")]
    public async Task AcceptsAPeerThatOffersOnlyAes256Gcm()
    {
        var (clientTransport, serverTransport) = await LoopbackPair.ConnectAsync();
        var serverTask = TlsChannel.AuthenticateAsServerAsync(serverTransport, identities.Bob, _timeout.Token);
        await using var client = await RawClientAsync(
            clientTransport, identities.Alice.Certificate, SslProtocols.Tls13, new CipherSuitesPolicy([TlsCipherSuite.TLS_AES_256_GCM_SHA384]));
        await using var server = await serverTask;

        Assert.Equal(TlsCipherSuite.TLS_AES_256_GCM_SHA384, server.NegotiatedCipherSuite);
        Assert.Equal(identities.Alice.DeviceId, TlsChannel.RemoteDeviceId(server));
    }

    [Fact]
    public async Task ServerRefusesAClientWithoutACertificate()
    {
        var (clientTransport, serverTransport) = await LoopbackPair.ConnectAsync();
        var serverTask = TlsChannel.AuthenticateAsServerAsync(serverTransport, identities.Bob, _timeout.Token);
        var clientTask = ClientCanExchangeDataAsync(clientTransport, certificate: null, SslProtocols.Tls13);

        await Assert.ThrowsAsync<AuthenticationException>(() => serverTask);
        Assert.False(await clientTask);
    }

    [Fact]
    public async Task ServerRefusesAClientWhoseKeyIsNotP256()
    {
        using var rsa = RSA.Create(2048);
        using var certificate = new CertificateRequest("CN=shoal", rsa, HashAlgorithmName.SHA256, RSASignaturePadding.Pkcs1)
            .CreateSelfSigned(DateTimeOffset.UtcNow.AddDays(-1), DateTimeOffset.UtcNow.AddYears(1));
        var (clientTransport, serverTransport) = await LoopbackPair.ConnectAsync();
        var serverTask = TlsChannel.AuthenticateAsServerAsync(serverTransport, identities.Bob, _timeout.Token);
        var clientTask = ClientCanExchangeDataAsync(clientTransport, certificate, SslProtocols.Tls13);

        await Assert.ThrowsAsync<AuthenticationException>(() => serverTask);
        Assert.False(await clientTask);
    }

    [Fact]
    public async Task ClientRefusesAServerWhoseKeyIsNotP256()
    {
        using var key = ECDsa.Create(ECCurve.NamedCurves.nistP384);
        using var certificate = new CertificateRequest("CN=shoal", key, HashAlgorithmName.SHA384)
            .CreateSelfSigned(DateTimeOffset.UtcNow.AddDays(-1), DateTimeOffset.UtcNow.AddYears(1));
        var (clientTransport, serverTransport) = await LoopbackPair.ConnectAsync();
        var serverTask = RawServerAsync(serverTransport, certificate);
        var clientTask = TlsChannel.AuthenticateAsClientAsync(clientTransport, identities.Alice, _timeout.Token);

        await Assert.ThrowsAsync<AuthenticationException>(() => clientTask);
        await Assert.ThrowsAnyAsync<Exception>(() => serverTask);
    }

    [Fact]
    public async Task ServerRefusesTls12()
    {
        var (clientTransport, serverTransport) = await LoopbackPair.ConnectAsync();
        var serverTask = TlsChannel.AuthenticateAsServerAsync(serverTransport, identities.Bob, _timeout.Token);
        var clientTask = ClientCanExchangeDataAsync(clientTransport, identities.Alice.Certificate, SslProtocols.Tls12);

        await Assert.ThrowsAsync<AuthenticationException>(() => serverTask);
        Assert.False(await clientTask);
    }

    [Fact]
    public async Task CancellationAbandonsTheHandshakeAndClosesTheTransport()
    {
        var (silentClient, serverTransport) = await LoopbackPair.ConnectAsync();
        using var cancel = new CancellationTokenSource();
        var serverTask = TlsChannel.AuthenticateAsServerAsync(serverTransport, identities.Bob, cancel.Token);

        await cancel.CancelAsync();

        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => serverTask);
        await using (silentClient)
        {
            Assert.Equal(0, await silentClient.ReadAsync(new byte[1], _timeout.Token));
        }
    }

    [Fact]
    public async Task RemoteDeviceIdNeedsAnAuthenticatedStream()
    {
        var (clientTransport, serverTransport) = await LoopbackPair.ConnectAsync();
        await using var unauthenticated = new SslStream(clientTransport);
        await using var unused = serverTransport;

        Assert.Throws<InvalidOperationException>(() => TlsChannel.RemoteDeviceId(unauthenticated));
    }

    private async Task<SslStream> RawClientAsync(
        NetworkStream transport, X509Certificate2? certificate, SslProtocols protocols, CipherSuitesPolicy? cipherSuites = null)
    {
        var ssl = new SslStream(transport);
        var options = new SslClientAuthenticationOptions
        {
            TargetHost = "",
            EnabledSslProtocols = protocols,
            ClientCertificates = certificate is null ? null : [certificate],
            RemoteCertificateValidationCallback = (_, _, _, _) => true,
        };
        if (cipherSuites is not null && OperatingSystem.IsLinux())
        {
            options.CipherSuitesPolicy = cipherSuites;
        }

        await ssl.AuthenticateAsClientAsync(options, _timeout.Token);
        return ssl;
    }

    /// <summary>
    /// Whether a client the server should refuse gets a working session. In TLS 1.3 the client may finish its side of
    /// the handshake before the server's verdict arrives, so the refusal can surface at the first read instead.
    /// </summary>
    private async Task<bool> ClientCanExchangeDataAsync(NetworkStream transport, X509Certificate2? certificate, SslProtocols protocols)
    {
        try
        {
            await using var ssl = await RawClientAsync(transport, certificate, protocols);
            await ssl.WriteAsync("ping"u8.ToArray(), _timeout.Token);
            return await ssl.ReadAsync(new byte[1], _timeout.Token) > 0;
        }
        catch (Exception e) when (e is AuthenticationException or IOException)
        {
            return false;
        }
    }

    private async Task RawServerAsync(NetworkStream transport, X509Certificate2 certificate)
    {
        await using var ssl = new SslStream(transport);
        await ssl.AuthenticateAsServerAsync(
            new SslServerAuthenticationOptions
            {
                ServerCertificate = certificate,
                ClientCertificateRequired = true,
                EnabledSslProtocols = SslProtocols.Tls13,
                RemoteCertificateValidationCallback = (_, _, _, _) => true,
            },
            _timeout.Token);
        await ssl.ReadExactlyAsync(new byte[1], _timeout.Token);
    }
}
