package feeds

import "testing"

func TestSNSURL(t *testing.T) {
	for _, c := range []struct {
		url, partition, region string
		ok                     bool
	}{
		{"https://sns.us-east-1.amazonaws.com/SimpleNotificationService-1.pem", "aws", "us-east-1", true},
		{"https://sns.cn-north-1.amazonaws.com.cn/SimpleNotificationService-1.pem", "aws-cn", "cn-north-1", true},
		{"https://sns.cn-north-1.amazonaws.com.cn/x.pem", "aws", "cn-north-1", false},
		{"https://sns.us-east-1.amazonaws.com/x.pem", "aws", "eu-west-1", false},
		{"https://sns.us-east-1.amazonaws.com:8443/x.pem", "aws", "us-east-1", false},
		{"https://user@sns.us-east-1.amazonaws.com/x.pem", "aws", "us-east-1", false},
		{"http://sns.us-east-1.amazonaws.com/x.pem", "aws", "us-east-1", false},
		{"https://sns.us-east-1.amazonaws.com.example.net/x.pem", "aws", "us-east-1", false},
		{"https://evilsns.us-east-1.amazonaws.com/x.pem", "aws", "us-east-1", false},
		{"https://sns.us-east-1.amazonaws.com%2e.example.net/x.pem", "aws", "us-east-1", false},
	} {
		if _, err := snsURL(c.url, c.partition, c.region); (err == nil) != c.ok {
			t.Errorf("snsURL(%q, %s, %s) = %v; want ok %v", c.url, c.partition, c.region, err, c.ok)
		}
	}
}

func TestSNSStringToSign(t *testing.T) {
	subject := "S"
	n := snsMessage{Type: snsNotification, MessageID: "m", TopicARN: "t", Message: "x", Timestamp: "ts", Token: "ignored", SubscribeURL: "ignored"}
	if got, want := n.stringToSign(), "Message\nx\nMessageId\nm\nTimestamp\nts\nTopicArn\nt\nType\nNotification\n"; got != want {
		t.Errorf("notification without subject = %q; want %q", got, want)
	}
	n.Subject = &subject
	if got, want := n.stringToSign(), "Message\nx\nMessageId\nm\nSubject\nS\nTimestamp\nts\nTopicArn\nt\nType\nNotification\n"; got != want {
		t.Errorf("notification with subject = %q; want %q", got, want)
	}
	s := snsMessage{Type: snsSubscribe, MessageID: "m", TopicARN: "t", Message: "x", Timestamp: "ts", Token: "k", SubscribeURL: "u", Subject: &subject}
	if got, want := s.stringToSign(), "Message\nx\nMessageId\nm\nSubscribeURL\nu\nTimestamp\nts\nToken\nk\nTopicArn\nt\nType\nSubscriptionConfirmation\n"; got != want {
		t.Errorf("confirmation = %q; want %q", got, want)
	}
}
