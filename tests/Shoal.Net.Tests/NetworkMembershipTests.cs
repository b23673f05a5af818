using System.Runtime.Versioning;
using System.Security.Cryptography;
using Shoal.Core;
using Shoal.Protocol;

namespace Shoal.Net.Tests;

public sealed class NetworkMembershipTests : IDisposable
{
    private static readonly DeviceId ClientDevice = DeviceId.FromCertificate("client certificate"u8);
    private static readonly DeviceId ServerDevice = DeviceId.FromCertificate("server certificate"u8);
    private static readonly DeviceId MiddleDevice = DeviceId.FromCertificate("attacker certificate"u8);

    private readonly TestDirectory _directory = new();
    private readonly NetworkMembership _membership = NetworkMembership.CreateNew();
    private readonly byte[] _clientNonce = RandomNumberGenerator.GetBytes(Hello.NonceSize);
    private readonly byte[] _serverNonce = RandomNumberGenerator.GetBytes(Hello.NonceSize);

    public void Dispose() => _directory.Dispose();

    [Theory]
    [InlineData(true)]
    [InlineData(false)]
    public void ProofVerifiesForTheSameTranscript(bool isClient)
    {
        var proof = _membership.ComputeProof(isClient, _clientNonce, _serverNonce, ClientDevice, ServerDevice);
        var otherMember = new NetworkMembership(_membership.Network, _membership.Secret);

        Assert.Equal(Auth.ProofSize, proof.Length);
        Assert.True(otherMember.VerifyProof(isClient, _clientNonce, _serverNonce, ClientDevice, ServerDevice, proof));
    }

    [Fact]
    public void ProofFailsWithAWrongSecret()
    {
        var outsider = new NetworkMembership(_membership.Network, RandomNumberGenerator.GetBytes(NetworkMembership.SecretSize));
        var proof = outsider.ComputeProof(true, _clientNonce, _serverNonce, ClientDevice, ServerDevice);

        Assert.False(_membership.VerifyProof(true, _clientNonce, _serverNonce, ClientDevice, ServerDevice, proof));
    }

    [Fact]
    public void ProofFailsForTheSameSecretInAnotherNetwork()
    {
        var other = new NetworkMembership(NetworkId.New(), _membership.Secret);
        var proof = other.ComputeProof(true, _clientNonce, _serverNonce, ClientDevice, ServerDevice);

        Assert.False(_membership.VerifyProof(true, _clientNonce, _serverNonce, ClientDevice, ServerDevice, proof));
    }

    [Fact]
    public void ProofIsNotValidForTheOtherRole()
    {
        var clientProof = _membership.ComputeProof(true, _clientNonce, _serverNonce, ClientDevice, ServerDevice);

        Assert.False(_membership.VerifyProof(false, _clientNonce, _serverNonce, ClientDevice, ServerDevice, clientProof));
        Assert.NotEqual(clientProof, _membership.ComputeProof(false, _clientNonce, _serverNonce, ClientDevice, ServerDevice));
    }

    [Fact]
    public void ProofCannotBeReplayedIntoAnotherSession()
    {
        var proof = _membership.ComputeProof(true, _clientNonce, _serverNonce, ClientDevice, ServerDevice);
        var freshServerNonce = RandomNumberGenerator.GetBytes(Hello.NonceSize);
        var freshClientNonce = RandomNumberGenerator.GetBytes(Hello.NonceSize);

        Assert.False(_membership.VerifyProof(true, _clientNonce, freshServerNonce, ClientDevice, ServerDevice, proof));
        Assert.False(_membership.VerifyProof(true, freshClientNonce, _serverNonce, ClientDevice, ServerDevice, proof));
        Assert.False(_membership.VerifyProof(true, _serverNonce, _clientNonce, ClientDevice, ServerDevice, proof));
    }

    [Fact]
    public void ProofCannotBeRelayedBetweenDifferentCertificates()
    {
        // A man in the middle terminates TLS on both sides with its own certificate, so the client believes it talks
        // to MiddleDevice and the server believes MiddleDevice is its client.
        var clientProof = _membership.ComputeProof(true, _clientNonce, _serverNonce, ClientDevice, MiddleDevice);
        var serverProof = _membership.ComputeProof(false, _clientNonce, _serverNonce, MiddleDevice, ServerDevice);

        Assert.False(_membership.VerifyProof(true, _clientNonce, _serverNonce, MiddleDevice, ServerDevice, clientProof));
        Assert.False(_membership.VerifyProof(false, _clientNonce, _serverNonce, ClientDevice, MiddleDevice, serverProof));
        Assert.False(_membership.VerifyProof(
            true, _clientNonce, _serverNonce, ServerDevice, ClientDevice,
            _membership.ComputeProof(true, _clientNonce, _serverNonce, ClientDevice, ServerDevice)));
    }

    [Fact]
    public void MalformedInputIsNotAValidProof()
    {
        var proof = _membership.ComputeProof(true, _clientNonce, _serverNonce, ClientDevice, ServerDevice);

        Assert.False(_membership.VerifyProof(true, _clientNonce, _serverNonce, ClientDevice, ServerDevice, proof.AsSpan(1)));
        Assert.False(_membership.VerifyProof(true, _clientNonce.AsSpan(1), _serverNonce, ClientDevice, ServerDevice, proof));
        Assert.False(_membership.VerifyProof(true, _clientNonce, [], ClientDevice, ServerDevice, proof));
        Assert.Throws<ArgumentException>(() => _membership.ComputeProof(true, _clientNonce.AsSpan(1), _serverNonce, ClientDevice, ServerDevice));
    }

    [Fact]
    public void DerivedKeysAreStablePerPurposeAndIndependent()
    {
        var copy = new NetworkMembership(_membership.Network, _membership.Secret);

        var tag = _membership.DeriveKey("discovery", 32);
        Assert.Equal(tag, copy.DeriveKey("discovery", 32));
        Assert.NotEqual(tag, _membership.DeriveKey("discovery2", 32));
        Assert.NotEqual(tag, NetworkMembership.CreateNew().DeriveKey("discovery", 32));
        Assert.NotEqual(_membership.Secret.ToArray(), _membership.DeriveKey("discovery", 32));
        Assert.Equal(16, _membership.DeriveKey("short", 16).Length);
        Assert.Throws<ArgumentException>(() => _membership.DeriveKey("", 32));
    }

    [Fact]
    public void NewMembershipsAreDistinct()
    {
        var other = NetworkMembership.CreateNew();

        Assert.NotEqual(_membership.Network, other.Network);
        Assert.NotEqual(_membership.Secret.ToArray(), other.Secret.ToArray());
        Assert.Equal(NetworkMembership.SecretSize, other.Secret.Length);
    }

    [Fact]
    public void SecretMustBe32Bytes() =>
        Assert.Throws<ArgumentException>(() => new NetworkMembership(NetworkId.New(), new byte[16]));

    [Fact]
    public void SavedMembershipLoadsBack()
    {
        var path = _directory.Combine("config/network");
        _membership.Save(path);
        var loaded = NetworkMembership.Load(path);

        Assert.Equal(_membership.Network, loaded.Network);
        Assert.Equal(_membership.Secret.ToArray(), loaded.Secret.ToArray());
        var proof = _membership.ComputeProof(false, _clientNonce, _serverNonce, ClientDevice, ServerDevice);
        Assert.True(loaded.VerifyProof(false, _clientNonce, _serverNonce, ClientDevice, ServerDevice, proof));
    }

    [Fact]
    public void SavingAgainReplacesTheFile()
    {
        var path = _directory.Combine("network");
        NetworkMembership.CreateNew().Save(path);
        _membership.Save(path);

        Assert.Equal(_membership.Network, NetworkMembership.Load(path).Network);
        Assert.Single(Directory.GetFiles(_directory.Path));
    }

    [Fact]
    [SupportedOSPlatform("linux")]
    public void SavedFileIsReadableByTheOwnerOnly()
    {
        var path = _directory.Combine("network");
        _membership.Save(path);

        Assert.Equal(UnixFileMode.UserRead | UnixFileMode.UserWrite, File.GetUnixFileMode(path));
    }

    [Theory]
    [InlineData("")]
    [InlineData("something else\n")]
    [InlineData("shoal-network v1\n")]
    [InlineData("shoal-network v1\nnetwork abc\nsecret abc\n")]
    [InlineData("shoal-network v1\nnetwork aaaaaaaaaaaaaaaaaaaaaaaaaa\nsecret aaaa\n")]
    [InlineData("shoal-network v1\nnetwork aaaaaaaaaaaaaaaaaaaaaaaaaa\nnetwork aaaaaaaaaaaaaaaaaaaaaaaaaa\n")]
    public void DamagedFileIsRejected(string contents)
    {
        var path = _directory.Combine("network");
        File.WriteAllText(path, contents);

        Assert.Throws<InvalidDataException>(() => NetworkMembership.Load(path));
    }
}
