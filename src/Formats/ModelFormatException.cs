namespace Mlx.Formats;

/// <summary>
/// The single exception type a reader throws for any file it refuses: malformed, truncated, over a
/// <see cref="LoadLimits"/> cap, a pickle, or an I/O failure while reading.
/// </summary>
public sealed class ModelFormatException : Exception
{
    /// <summary>Creates a refusal.</summary>
    /// <param name="format">The format being read (or detected) when the refusal happened.</param>
    /// <param name="reason">One line a person can act on.</param>
    /// <param name="offset">Byte offset in the file where the problem was found, when known.</param>
    /// <param name="inner">The underlying exception, if any.</param>
    public ModelFormatException(ModelFileFormat? format, string reason, long? offset = null, Exception? inner = null)
        : base(Compose(format, reason, offset), inner)
    {
        Format = format;
        Reason = reason;
        Offset = offset;
    }

    /// <summary>The format being read, or null when the content was not recognised.</summary>
    public ModelFileFormat? Format { get; }

    /// <summary>Byte offset in the file where the problem was found, when known.</summary>
    public long? Offset { get; }

    /// <summary>The one-line reason, without the format and offset prefix.</summary>
    public string Reason { get; }

    private static string Compose(ModelFileFormat? format, string reason, long? offset)
    {
        string name = format is { } f ? ModelFileFormats.Name(f) : "model file";
        return offset is { } o ? $"{name}: {reason} (at byte {o})" : $"{name}: {reason}";
    }
}
