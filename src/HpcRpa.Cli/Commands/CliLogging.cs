using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;

namespace HpcRpa.Cli.Commands;

/// <summary>Console logging to stderr when asked for (stdout stays clean for --json).</summary>
internal sealed class CliLogging : IDisposable
{
    private readonly ILoggerFactory? _factory;

    private CliLogging(ILoggerFactory? factory, ILogger logger)
    {
        _factory = factory;
        Logger = logger;
    }

    public ILogger Logger { get; }

    public static CliLogging Create(bool enabled)
    {
        if (!enabled) return new CliLogging(null, NullLogger.Instance);
        var f = LoggerFactory.Create(b => b
            .AddConsole(o => o.LogToStandardErrorThreshold = LogLevel.Trace)
            .AddSimpleConsole(o => { o.SingleLine = true; o.TimestampFormat = null; })
            .SetMinimumLevel(LogLevel.Information));
        return new CliLogging(f, f.CreateLogger("hpcrpa"));
    }

    public void Dispose() => _factory?.Dispose();
}
