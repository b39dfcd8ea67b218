using Microsoft.Win32.SafeHandles;

namespace Mlx.Formats.Internal;

/// <summary>Read-only stream over [offset, offset+length) of a file, so a decompressor can never read outside a member.</summary>
internal sealed class FileRegionStream : Stream
{
    private readonly SafeFileHandle _handle;
    private readonly long _start;
    private readonly long _length;
    private long _position;

    public FileRegionStream(SafeFileHandle handle, long start, long length)
    {
        _handle = handle;
        _start = start;
        _length = length;
    }

    public override bool CanRead => true;

    public override bool CanSeek => false;

    public override bool CanWrite => false;

    public override long Length => _length;

    public override long Position
    {
        get => _position;
        set => throw new NotSupportedException();
    }

    public override int Read(byte[] buffer, int offset, int count) => Read(buffer.AsSpan(offset, count));

    public override int Read(Span<byte> buffer)
    {
        long left = _length - _position;
        if (left <= 0)
        {
            return 0;
        }
        Span<byte> target = buffer[..(int)Math.Min(buffer.Length, left)];
        int n = RandomAccess.Read(_handle, target, _start + _position);
        if (n == 0)
        {
            throw new IOException("the file ended early (it changed or was truncated)");
        }
        _position += n;
        return n;
    }

    public override void Flush()
    {
    }

    public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();

    public override void SetLength(long value) => throw new NotSupportedException();

    public override void Write(byte[] buffer, int offset, int count) => throw new NotSupportedException();
}
