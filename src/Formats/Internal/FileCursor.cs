using System.Buffers.Binary;
using System.Text;
using Microsoft.Win32.SafeHandles;

namespace Mlx.Formats.Internal;

/// <summary>
/// Buffered forward reader over a file region for parsing headers. Every read is checked against the
/// bytes that remain before anything is allocated; a short file is a <see cref="ModelFormatException"/>.
/// </summary>
internal sealed class FileCursor
{
    private readonly SafeFileHandle _handle;
    private readonly ModelFileFormat _format;
    private readonly long _length;
    private readonly byte[] _buffer = new byte[64 * 1024];
    private long _bufferStart;
    private int _bufferCount;

    public FileCursor(SafeFileHandle handle, long length, ModelFileFormat format, long position = 0)
    {
        _handle = handle;
        _length = length;
        _format = format;
        Position = position;
    }

    public long Position { get; private set; }

    public long Length => _length;

    public long Remaining => _length - Position;

    public ModelFormatException Error(string reason, long? offset = null) => new(_format, reason, offset ?? Position);

    public void Require(long count, string what)
    {
        if (count < 0 || count > Remaining)
        {
            throw Error($"{what} needs {count} bytes but only {Remaining} remain in the file");
        }
    }

    public void Skip(long count, string what)
    {
        Require(count, what);
        Position += count;
    }

    public byte ReadU8(string what) => Read(1, what)[0];

    public ushort ReadU16(string what) => BinaryPrimitives.ReadUInt16LittleEndian(Read(2, what));

    public uint ReadU32(string what) => BinaryPrimitives.ReadUInt32LittleEndian(Read(4, what));

    public int ReadI32(string what) => BinaryPrimitives.ReadInt32LittleEndian(Read(4, what));

    public ulong ReadU64(string what) => BinaryPrimitives.ReadUInt64LittleEndian(Read(8, what));

    public long ReadI64(string what) => BinaryPrimitives.ReadInt64LittleEndian(Read(8, what));

    /// <summary>Copies <paramref name="count"/> bytes (already bounded by the caller's limit) into a new array.</summary>
    public byte[] ReadBytes(long count, string what)
    {
        Require(count, what);
        if (count > Array.MaxLength)
        {
            throw Error($"{what} is {count} bytes, too large to read into memory");
        }
        var result = new byte[count];
        int done = 0;
        while (done < result.Length)
        {
            int chunk = (int)Math.Min(result.Length - done, _buffer.Length);
            Read(chunk, what).CopyTo(result.AsSpan(done));
            done += chunk;
        }
        return result;
    }

    /// <summary>Decodes UTF-8 strictly; invalid sequences are a refusal rather than silent replacement.</summary>
    public string ReadUtf8(long count, string what)
    {
        long at = Position;
        byte[] bytes = ReadBytes(count, what);
        try
        {
            return Strict.GetString(bytes);
        }
        catch (DecoderFallbackException)
        {
            throw Error($"{what} is not valid UTF-8", at);
        }
    }

    public static readonly UTF8Encoding Strict = new(encoderShouldEmitUTF8Identifier: false, throwOnInvalidBytes: true);

    private ReadOnlySpan<byte> Read(int count, string what)
    {
        Require(count, what);
        long offsetInBuffer = Position - _bufferStart;
        if (offsetInBuffer < 0 || offsetInBuffer + count > _bufferCount)
        {
            Fill(count, what);
            offsetInBuffer = 0;
        }
        Position += count;
        return _buffer.AsSpan((int)offsetInBuffer, count);
    }

    private void Fill(int atLeast, string what)
    {
        _bufferStart = Position;
        int want = (int)Math.Min(_buffer.Length, _length - Position);
        _bufferCount = 0;
        try
        {
            while (_bufferCount < want)
            {
                int n = RandomAccess.Read(_handle, _buffer.AsSpan(_bufferCount, want - _bufferCount), _bufferStart + _bufferCount);
                if (n == 0)
                {
                    break;
                }
                _bufferCount += n;
            }
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException or NotSupportedException)
        {
            throw new ModelFormatException(_format, $"read failed while reading {what}: {e.Message}", Position, e);
        }
        if (_bufferCount < atLeast)
        {
            throw Error($"file ended while reading {what} (it changed or was truncated)");
        }
    }
}
