using Shoal.Integration.Tests.Support;
using Shoal.Node.Home;

namespace Shoal.Integration.Tests;

public sealed class NodeConfigTests
{
    [Fact]
    public void Put_and_trash_settings_are_read_from_the_config()
    {
        using var directory = new TempDirectory("shoal-config");
        var home = new NodeHome(directory.Combine("home"));
        Directory.CreateDirectory(home.Root);
        File.WriteAllText(home.ConfigPath, """{ "name": "desk", "storeQuota": 1048576, "trashDays": 7, "downAfterSeconds": 12 }""");

        var config = NodeConfig.Load(home);

        Assert.Equal((1048576L, 7, 12), (config.StoreQuota, config.TrashDays, config.DownAfterSeconds));
    }

    [Theory]
    [InlineData("""{ "storeQuota": -1 }""", "storeQuota")]
    [InlineData("""{ "trashDays": -1 }""", "trashDays")]
    [InlineData("""{ "downAfterSeconds": 0 }""", "downAfterSeconds")]
    public void A_setting_out_of_range_is_refused_with_its_name(string json, string setting)
    {
        using var directory = new TempDirectory("shoal-config");
        var home = new NodeHome(directory.Combine("home"));
        Directory.CreateDirectory(home.Root);
        File.WriteAllText(home.ConfigPath, json);

        var error = Assert.Throws<InvalidDataException>(() => NodeConfig.Load(home));

        Assert.Contains(setting, error.Message);
    }

    [Fact]
    public void Every_config_key_reads_back_what_it_shows()
    {
        using var directory = new TempDirectory("shoal-config");
        var home = new NodeHome(directory.Combine("home"));
        var config = new NodeConfig { Peers = ["10.0.0.1:7420"], Trackers = ["http://tracker.example:7423"], AllowSubnets = ["10.0.0.0/8"], UploadLimit = 1536 << 10, StoreQuota = 3L << 30 };

        foreach (var key in ConfigKeys.All)
        {
            var text = key.Read(config, home);
            Assert.True(key.TrySet(config, text, out var again, out var error), $"{key.Name} = {text}: {error}");
            Assert.Equal(text, key.Read(again, home));
        }

        Assert.Equal("1536K", ConfigKeys.Find("uploadLimit")!.Read(config, home));
        Assert.Equal("3G", ConfigKeys.Find("storequota")!.Read(config, home));
        Assert.Equal(home.DefaultFolder, ConfigKeys.Find("folder")!.Read(config, home));
    }

    [Fact]
    public void A_changed_key_needs_a_restart_unless_a_running_node_applies_it_at_once()
    {
        var home = new NodeHome("/tmp/shoal-config-restart");
        var before = new NodeConfig { Peers = ["a:1"] };
        Assert.True(ConfigKeys.TrySet(before, "name", "x", out var renamed, out _));
        Assert.True(ConfigKeys.TrySet(renamed, "listen", "127.0.0.1:7000", out var moved, out _));
        Assert.True(ConfigKeys.TrySet(moved, "peers", "a:1,b:2", out var more, out _));

        Assert.Empty(ConfigKeys.RestartRequired(before, renamed, home));
        Assert.Equal(["listen"], ConfigKeys.RestartRequired(before, more, home));
        Assert.Equal(["peers"], ConfigKeys.RestartRequired(more, more with { Peers = ["b:2"] }, home));
        Assert.False(ConfigKeys.TrySet(before, "apiPasswordHash", "x", out _, out var error));
        Assert.Contains("not a setting", error, StringComparison.Ordinal);
    }
}
